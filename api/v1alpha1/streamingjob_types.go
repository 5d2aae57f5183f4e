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
// +kubebuilder:subresource:scale:specpath=.spec.executors.replicas,statuspath=.status.executors.replicas,selectorpath=.status.executors.selector
// +kubebuilder:resource:shortName=sj,categories=streaming
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Executors",type=string,JSONPath=`.status.executors.summary`
// +kubebuilder:printcolumn:name="Last Batch",type=date,JSONPath=`.status.lastBatchTime`
// +kubebuilder:printcolumn:name="Lag",type=string,JSONPath=`.status.lag`
// +kubebuilder:printcolumn:name="Restarts",type=integer,JSONPath=`.status.restarts`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
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

	// UpgradeMode says how a change to the job (pipeline, image, batch
	// interval, ...) is applied: "last-state" (the default) stops the job
	// with a checkpoint and resumes from it; "stateless" starts from empty
	// state; "savepoint" stops the job with a savepoint, which is kept, and
	// starts from it. A change to pods only (resources, templates) rolls
	// the pods and keeps the state whatever the mode.
	// +kubebuilder:validation:Enum=last-state;stateless;savepoint
	// +kubebuilder:default=last-state
	// +optional
	UpgradeMode UpgradeMode `json:"upgradeMode,omitempty"`

	// Rollback returns to the last spec that ran well when an upgrade's
	// driver does not become ready in time.
	// +optional
	Rollback RollbackSpec `json:"rollback,omitempty"`

	// RestoreFrom starts the job from a savepoint or checkpoint location
	// (s3://bucket/prefix/savepoints/name, or a local path) instead of its
	// own checkpoints, reached with the checkpoint section's endpoint and
	// credentials. It is applied once for each value: later restarts
	// resume from the job's own checkpoints.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	RestoreFrom string `json:"restoreFrom,omitempty"`

	// SavepointTrigger takes a savepoint of the running job whenever it
	// changes (any value: a counter, a timestamp). So does changing the
	// annotation tributary.dev/savepoint-trigger. Neither restarts the job.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	SavepointTrigger string `json:"savepointTrigger,omitempty"`

	// Health says when the job is Degraded and how long it may take to start.
	// +optional
	Health HealthSpec `json:"health,omitempty"`
}

// UpgradeMode is how a changed job is applied.
type UpgradeMode string

const (
	UpgradeLastState UpgradeMode = "last-state"
	UpgradeStateless UpgradeMode = "stateless"
	UpgradeSavepoint UpgradeMode = "savepoint"
)

// RollbackSpec configures rolling back a failed upgrade.
type RollbackSpec struct {
	// Enabled rolls back an upgrade whose driver is not ready within
	// readyTimeout, to the last spec that ran well (with its state, as
	// last-state).
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// ReadyTimeout defaults to 5m.
	// +kubebuilder:validation:Type=string
	// +optional
	ReadyTimeout *metav1.Duration `json:"readyTimeout,omitempty"`
}

// HealthSpec says when a job is unhealthy.
type HealthSpec struct {
	// StallBatches: a job whose driver runs but has completed no batch for
	// this many batch intervals is Degraded. Zero means 10.
	// +kubebuilder:validation:Minimum=0
	// +optional
	StallBatches int32 `json:"stallBatches,omitempty"`
	// RestartOnStall restarts the driver of a stalled job (with the
	// restart policy's backoff and limit) instead of only reporting it.
	// +optional
	RestartOnStall bool `json:"restartOnStall,omitempty"`
	// StartTimeout bounds how long a pod may stay Pending (unschedulable,
	// pulling its image) before the job says so in Degraded. Defaults to 5m.
	// +kubebuilder:validation:Type=string
	// +optional
	StartTimeout *metav1.Duration `json:"startTimeout,omitempty"`
	// ReadyTimeout bounds how long a running driver may take to become
	// ready (recovering state included) before its start counts as a
	// failure and it is restarted. Defaults to 10m.
	// +kubebuilder:validation:Type=string
	// +optional
	ReadyTimeout *metav1.Duration `json:"readyTimeout,omitempty"`
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
	// RetentionPolicy says what happens to the checkpoints when the job is
	// deleted: "Retain" (the default) keeps them; "Delete" removes them,
	// with the write-ahead log and the epochs. Savepoints are always kept:
	// they are what another job starts from.
	// +kubebuilder:validation:Enum=Retain;Delete
	// +kubebuilder:default=Retain
	// +optional
	RetentionPolicy RetentionPolicy `json:"retentionPolicy,omitempty"`
	// CredentialsSecret names a Secret in the job's namespace with the keys
	// accessKeyID and secretAccessKey.
	// +optional
	CredentialsSecret *corev1.LocalObjectReference `json:"credentialsSecret,omitempty"`
	// TLS configures the connection to the S3 endpoint.
	// +optional
	TLS *CheckpointTLS `json:"tls,omitempty"`
}

// RetentionPolicy is what happens to a deleted job's checkpoints.
type RetentionPolicy string

const (
	RetainCheckpoints RetentionPolicy = "Retain"
	DeleteCheckpoints RetentionPolicy = "Delete"
)

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

// StreamingJobStatus is what the operator observes. It is bounded in size:
// nothing in it grows with the number of batches, restarts or executors.
type StreamingJobStatus struct {
	// ObservedGeneration is the spec generation of the last reconcile that
	// succeeded.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase is a one-word summary.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// Conditions are Ready, Progressing, Degraded and Suspended.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Message says briefly what the job is doing or waiting for.
	// +optional
	Message string `json:"message,omitempty"`

	// DriverPod is the current driver pod's name.
	// +optional
	DriverPod string `json:"driverPod,omitempty"`
	// Executors counts the executor pods.
	// +optional
	Executors ExecutorsStatus `json:"executors,omitempty"`
	// LastBatchTime is the batch time of the newest completed batch.
	// +optional
	LastBatchTime *metav1.Time `json:"lastBatchTime,omitempty"`
	// Lag is how far the newest completed batch is behind the clock, such
	// as "1.2s": about one batch interval when the job keeps up.
	// +optional
	Lag string `json:"lag,omitempty"`
	// LastCheckpoint is the newest checkpoint the driver wrote.
	// +optional
	LastCheckpoint *CheckpointRef `json:"lastCheckpoint,omitempty"`
	// LastSavepoint is the newest savepoint taken.
	// +optional
	LastSavepoint *SavepointRef `json:"lastSavepoint,omitempty"`

	// Restarts counts the driver restarts since the driver last ran
	// stably; it resets after restartPolicy.resetAfter. The default puts
	// 0, not nothing, in kubectl's Restarts column.
	// +kubebuilder:default=0
	// +optional
	Restarts int32 `json:"restarts,omitempty"`
	// Backoff is the wait before the next driver restart, while one is due.
	// +optional
	Backoff string `json:"backoff,omitempty"`
	// NextRestartTime is when the due driver restart happens.
	// +optional
	NextRestartTime *metav1.Time `json:"nextRestartTime,omitempty"`
	// DriverRunningSince is when the current driver was first seen ready.
	// +optional
	DriverRunningSince *metav1.Time `json:"driverRunningSince,omitempty"`

	// Deployed is what the pods run: the spec's hash and how the drivers
	// start.
	// +optional
	Deployed DeployedStatus `json:"deployed,omitempty"`
	// SavepointTrigger is the last savepoint trigger handled.
	// +optional
	SavepointTrigger string `json:"savepointTrigger,omitempty"`
}

// Phase summarises a job.
// +kubebuilder:validation:Enum=Pending;Running;Recovering;Upgrading;Suspended;Failed;Completed
type Phase string

const (
	PhasePending    Phase = "Pending"
	PhaseRunning    Phase = "Running"
	PhaseRecovering Phase = "Recovering"
	PhaseUpgrading  Phase = "Upgrading"
	PhaseSuspended  Phase = "Suspended"
	PhaseFailed     Phase = "Failed"
	PhaseCompleted  Phase = "Completed"
)

// Condition types.
const (
	// ConditionReady: the driver is ready and batches complete.
	ConditionReady = "Ready"
	// ConditionProgressing: the operator is bringing the job to its spec
	// (starting, restarting, upgrading, scaling, suspending).
	ConditionProgressing = "Progressing"
	// ConditionDegraded: something is wrong that the job may not recover
	// from by itself (a stall, pods that cannot start, a spec the operator
	// cannot run, the restart limit).
	ConditionDegraded = "Degraded"
	// ConditionSuspended: spec.suspend is set and the pods are gone.
	ConditionSuspended = "Suspended"
)

// ExecutorsStatus counts the executor pods; the scale subresource reads it.
type ExecutorsStatus struct {
	// Replicas is how many executor pods exist.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// Ready is how many are ready.
	// +optional
	Ready int32 `json:"ready,omitempty"`
	// Desired is spec.executors.replicas.
	// +optional
	Desired int32 `json:"desired,omitempty"`
	// Summary is "ready/desired", for kubectl.
	// +optional
	Summary string `json:"summary,omitempty"`
	// Selector selects the executor pods (for an HPA).
	// +optional
	Selector string `json:"selector,omitempty"`
}

// CheckpointRef is a checkpoint.
type CheckpointRef struct {
	// BatchTime is the newest batch the checkpoint includes.
	BatchTime metav1.Time `json:"batchTime"`
	// Location is where it is: the checkpoint location and its key.
	Location string `json:"location"`
}

// SavepointRef is a savepoint.
type SavepointRef struct {
	Name string `json:"name"`
	// Location is the savepoint's checkpoint location, which
	// spec.restoreFrom takes.
	Location string `json:"location"`
	// BatchTime is the newest batch the savepoint includes.
	// +optional
	BatchTime *metav1.Time `json:"batchTime,omitempty"`
	// TakenAt is when it was written.
	TakenAt metav1.Time `json:"takenAt"`
}

// DeployedStatus is what the job's pods run.
type DeployedStatus struct {
	// SpecHash identifies the spec the driver runs: the fields that
	// restart the job when they change.
	// +optional
	SpecHash string `json:"specHash,omitempty"`
	// PodsHash identifies the driver pod started last (its resources,
	// template and start arguments): when only it changes, the driver is
	// rolled and the state kept.
	// +optional
	PodsHash string `json:"podsHash,omitempty"`
	// Generation is the spec generation the pods were built from.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// RestoreID and RestoreFrom are how drivers start: see the driver's
	// --restore-id. Empty means from the job's own checkpoints.
	// +optional
	RestoreID string `json:"restoreID,omitempty"`
	// +optional
	RestoreFrom string `json:"restoreFrom,omitempty"`
	// RestoredFrom is the spec.restoreFrom value applied last.
	// +optional
	RestoredFrom string `json:"restoredFrom,omitempty"`
	// UpgradeStartTime is set while an upgrade's driver is not yet ready.
	// +optional
	UpgradeStartTime *metav1.Time `json:"upgradeStartTime,omitempty"`
	// StableSpec is the last spec whose driver became ready, as JSON:
	// what a rollback returns to. It is one spec, not a history.
	// +optional
	StableSpec string `json:"stableSpec,omitempty"`
	// RolledBackFrom is the spec hash of an upgrade that was rolled back:
	// the pods run StableSpec until the spec changes again.
	// +optional
	RolledBackFrom string `json:"rolledBackFrom,omitempty"`
	// StopSavepoint is the savepoint the driver was asked to take as it
	// stops, for an upgrade in savepoint mode.
	// +optional
	StopSavepoint string `json:"stopSavepoint,omitempty"`
	// StopRequestedAt is when the driver was asked to stop with
	// StopSavepoint. A driver still running after its pod's termination
	// grace period is stopped without the savepoint.
	// +optional
	StopRequestedAt *metav1.Time `json:"stopRequestedAt,omitempty"`
	// Failed says why this spec will not be restarted again (the restart
	// limit); a changed spec clears it.
	// +optional
	Failed string `json:"failed,omitempty"`
	// Completed is set when a bounded job's driver finished its run.
	// +optional
	Completed bool `json:"completed,omitempty"`
}

// StreamingJobList is a list of StreamingJobs.
//
// +kubebuilder:object:root=true
type StreamingJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StreamingJob `json:"items"`
}
