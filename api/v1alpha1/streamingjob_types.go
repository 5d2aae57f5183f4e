package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// StreamingJob is a streaming computation run as a series of small,
// deterministic batch jobs (Discretized Streams). On Kubernetes the operator
// runs it as a driver pod and executor pods; `tributary run` runs the same
// manifest on one machine.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sj,categories=streaming
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Batch",type=string,JSONPath=`.spec.batchInterval`
// +kubebuilder:printcolumn:name="Executors",type=integer,JSONPath=`.spec.executors.replicas`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StreamingJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the job: its pipeline and how to run it.
	Spec StreamingJobSpec `json:"spec"`
	// Status is what the operator observes.
	// +optional
	Status StreamingJobStatus `json:"status,omitempty"`
}

// StreamingJobSpec is the desired job.
//
// +kubebuilder:validation:XValidation:rule="!has(self.pipeline.streams) || self.pipeline.streams.all(s, !has(s.window) || (duration(s.window.window).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0 && (!has(s.window.slide) || duration(s.window.slide).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0)))",message="window: window and slide must be multiples of batchInterval"
// +kubebuilder:validation:XValidation:rule="!has(self.pipeline.streams) || self.pipeline.streams.all(s, !has(s.countByWindow) || (duration(s.countByWindow.window).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0 && (!has(s.countByWindow.slide) || duration(s.countByWindow.slide).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0)))",message="countByWindow: window and slide must be multiples of batchInterval"
// +kubebuilder:validation:XValidation:rule="!has(self.pipeline.streams) || self.pipeline.streams.all(s, !has(s.reduceByWindow) || (duration(s.reduceByWindow.window.window).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0 && (!has(s.reduceByWindow.window.slide) || duration(s.reduceByWindow.window.slide).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0)))",message="reduceByWindow: window and slide must be multiples of batchInterval"
// +kubebuilder:validation:XValidation:rule="!has(self.pipeline.streams) || self.pipeline.streams.all(s, !has(s.countByValueAndWindow) || (duration(s.countByValueAndWindow.window).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0 && (!has(s.countByValueAndWindow.slide) || duration(s.countByValueAndWindow.slide).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0)))",message="countByValueAndWindow: window and slide must be multiples of batchInterval"
// +kubebuilder:validation:XValidation:rule="!has(self.pipeline.streams) || self.pipeline.streams.all(s, !has(s.reduceByKeyAndWindow) || (duration(s.reduceByKeyAndWindow.window.window).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0 && (!has(s.reduceByKeyAndWindow.window.slide) || duration(s.reduceByKeyAndWindow.window.slide).getMilliseconds() % duration(self.batchInterval).getMilliseconds() == 0)))",message="reduceByKeyAndWindow: window and slide must be multiples of batchInterval"
type StreamingJobSpec struct {
	// BatchInterval is how often the stream is cut into a batch, such as
	// "1s" or "500ms". Every window and slide must be a multiple of it.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('1h')",message="batchInterval must be between 1ms and 1h"
	BatchInterval metav1.Duration `json:"batchInterval"`

	// Pipeline is the computation: sources, streams and outputs.
	Pipeline Pipeline `json:"pipeline"`

	// Executors run the tasks. Locally, replicas becomes the number of
	// worker goroutines.
	// +kubebuilder:default={}
	// +optional
	Executors ExecutorSpec `json:"executors,omitempty"`

	// Driver owns the batch clock, plans batches and schedules tasks.
	// +optional
	Driver DriverSpec `json:"driver,omitempty"`

	// Checkpoint says where metadata and state checkpoints go.
	// +optional
	Checkpoint CheckpointSpec `json:"checkpoint,omitempty"`

	// Parallelism is the default number of partitions of shuffles (reduceByKey,
	// joins, state). Zero means the number of executors.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4096
	// +optional
	Parallelism int32 `json:"parallelism,omitempty"`

	// FailurePolicy says what happens when a batch fails, for example on a
	// record a step cannot process.
	// +optional
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`

	// Image is the container image of the driver and executor pods. Empty
	// means the image the operator was installed with.
	// +optional
	Image string `json:"image,omitempty"`

	// Suspend stops the job at a batch boundary, with a final checkpoint,
	// and removes its pods; setting it back to false resumes from that
	// checkpoint.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// RestartPolicy says how the operator restarts a failed driver.
	// +optional
	RestartPolicy RestartPolicy `json:"restartPolicy,omitempty"`
}

// ExecutorSpec configures the executor pods.
type ExecutorSpec struct {
	// Replicas is the number of executors (local mode: worker goroutines).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=2
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Resources are each executor container's requests and limits.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// Template overrides parts of the executor pods.
	// +optional
	Template *PodTemplate `json:"template,omitempty"`
}

// DriverSpec configures the driver pod.
type DriverSpec struct {
	// Resources are the driver container's requests and limits.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// Template overrides parts of the driver pod.
	// +optional
	Template *PodTemplate `json:"template,omitempty"`
}

// PodTemplate overrides the pods the operator builds.
type PodTemplate struct {
	// Metadata adds labels and annotations to the pods.
	// +optional
	Metadata PodTemplateMetadata `json:"metadata,omitempty"`
	// Spec is merged into the generated pod spec as a strategic merge
	// patch: add tolerations, a nodeSelector, volumes, sidecar containers,
	// or fields of the main container by its name ("driver" or "executor").
	// It is not validated here; the pod it produces is validated by the API
	// server when the operator creates it.
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	Spec *runtime.RawExtension `json:"spec,omitempty"`
}

// PodTemplateMetadata is the metadata a template may set.
type PodTemplateMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// CheckpointSpec says where checkpoints go.
type CheckpointSpec struct {
	// Location is an S3 URL (s3://bucket/prefix) or a local path. Empty
	// means a local directory named after the job, for local runs.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Location string `json:"location,omitempty"`
	// Interval is how often state is checkpointed. It must be a multiple of
	// batchInterval. Empty means the smallest multiple of batchInterval that
	// is at least 10s.
	// +kubebuilder:validation:Type=string
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Retain is how many state checkpoints (and of the newest metadata
	// checkpoints) are kept; older ones are deleted. Zero means 3.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Retain int32 `json:"retain,omitempty"`
	// Endpoint is the S3 endpoint (host:port), for S3-compatible stores
	// such as MinIO. Empty means AWS S3.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// CredentialsSecret names a Secret in the job's namespace with the keys
	// accessKeyID and secretAccessKey.
	// +optional
	CredentialsSecret *corev1.LocalObjectReference `json:"credentialsSecret,omitempty"`
	// TLS configures the connection to the S3 endpoint.
	// +optional
	TLS *CheckpointTLS `json:"tls,omitempty"`
}

// CheckpointTLS configures TLS to the checkpoint store.
type CheckpointTLS struct {
	// Disabled connects over plain HTTP (test setups only).
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// CASecret names a Secret whose key ca.crt holds the CA bundle that
	// signed the endpoint's certificate.
	// +optional
	CASecret *corev1.LocalObjectReference `json:"caSecret,omitempty"`
	// InsecureSkipVerify accepts any certificate (test setups only).
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// FailurePolicy says what happens when a batch fails.
type FailurePolicy struct {
	// Mode is "stop" (the default: the job fails with the batch's error)
	// or "retry" (the batch is recomputed from its lineage, up to
	// maxRetries times, before the job fails). No batch is ever skipped.
	// +kubebuilder:validation:Enum=stop;retry
	// +optional
	Mode string `json:"mode,omitempty"`
	// MaxRetries bounds "retry". Zero means 3.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxRetries int32 `json:"maxRetries,omitempty"`
}

// RestartPolicy says how the operator restarts a failed driver: after an
// exponential backoff starting at initialBackoff and doubling up to
// maxBackoff. The restart count resets after resetAfter of stable running.
type RestartPolicy struct {
	// MaxRestarts is how many restarts are allowed before the job is
	// Failed. Empty means unlimited.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxRestarts *int32 `json:"maxRestarts,omitempty"`
	// InitialBackoff defaults to 1s.
	// +kubebuilder:validation:Type=string
	// +optional
	InitialBackoff *metav1.Duration `json:"initialBackoff,omitempty"`
	// MaxBackoff defaults to 5m.
	// +kubebuilder:validation:Type=string
	// +optional
	MaxBackoff *metav1.Duration `json:"maxBackoff,omitempty"`
	// ResetAfter defaults to 10m.
	// +kubebuilder:validation:Type=string
	// +optional
	ResetAfter *metav1.Duration `json:"resetAfter,omitempty"`
}

// StreamingJobStatus is what the operator observes.
type StreamingJobStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase is a one-word summary: Pending, Running, Suspended, Failed or
	// Completed.
	// +optional
	Phase string `json:"phase,omitempty"`
	// Conditions are the standard conditions (Ready, Progressing, ...).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// StreamingJobList is a list of StreamingJobs.
//
// +kubebuilder:object:root=true
type StreamingJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StreamingJob `json:"items"`
}
