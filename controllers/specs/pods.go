package specs

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// Where pods mount what the job's processes read.
const (
	jobDir         = "/etc/tributary/job"
	credentialsDir = "/etc/tributary/checkpoint-credentials"
	caDir          = "/etc/tributary/checkpoint-ca"
	workDir        = "/var/lib/tributary"
)

// Restore is how a driver starts when not from the job's own newest
// checkpoint: once per ID, from a savepoint or checkpoint location (From),
// or from empty. See the driver's --restore-id.
type Restore struct {
	ID, From string
}

// DriverPod is the job's driver. It is a bare Pod, not a Deployment, so
// that the operator alone decides when a driver starts: two drivers never
// run by accident, and restarts follow the job's backoff.
func DriverPod(job *v1alpha1.StreamingJob, image string, restore Restore) (*corev1.Pod, error) {
	args := []string{"driver",
		"--job-file", jobDir + "/" + JobFileKey,
		"--listen", fmt.Sprintf(":%d", DriverRPCPort),
		// Executors fetch the driver's blocks at this address: the
		// listener's own ([::]:7077) is no address to another pod.
		"--advertise", fmt.Sprintf("$(POD_IP):%d", DriverRPCPort),
		"--http", fmt.Sprintf(":%d", DriverHTTPPort)}
	if restore.ID != "" {
		args = append(args, "--restore-id", restore.ID)
		if restore.From != "" {
			args = append(args, "--restore-from", restore.From)
		}
	}
	c := corev1.Container{
		Name:  RoleDriver,
		Image: image,
		Args:  args,
		Ports: []corev1.ContainerPort{
			{Name: "rpc", ContainerPort: DriverRPCPort, Protocol: corev1.ProtocolTCP},
			{Name: "http", ContainerPort: DriverHTTPPort, Protocol: corev1.ProtocolTCP},
		},
		Env:       append([]corev1.EnvVar{podIPEnv}, processEnv(job)...),
		Resources: job.Spec.Driver.Resources,
		// A driver recovering a large state is busy before it serves: the
		// startup probe gives it time that liveness would not.
		StartupProbe:   httpProbe("/healthz", 60),
		LivenessProbe:  httpProbe("/healthz", 3),
		ReadinessProbe: httpProbe("/readyz", 3),
	}
	pod := jobPod(job, RoleDriver, DriverPodName(job), c)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "job", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: JobConfigMapName(job)}}}})
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts,
		corev1.VolumeMount{Name: "job", MountPath: jobDir, ReadOnly: true})
	return withTemplate(pod, job.Spec.Driver.Template)
}

// ExecutorPod is executor index of the job. Executors are replaced one by
// one, under the same name and executor ID, so none waits for another.
func ExecutorPod(job *v1alpha1.StreamingJob, index int, image string) (*corev1.Pod, error) {
	res := job.Spec.Executors.Resources
	args := []string{"executor",
		"--id", ExecutorPodName(job, index),
		"--driver", DriverAddress(job),
		"--listen", fmt.Sprintf(":%d", ExecutorRPCPort),
		"--advertise", fmt.Sprintf("$(POD_IP):%d", ExecutorRPCPort),
		"--cores", strconv.Itoa(cores(res))}
	if m, ok := memoryBound(res); ok {
		args = append(args, "--memory-bytes", strconv.FormatInt(m, 10))
	}
	c := corev1.Container{
		Name:          RoleExecutor,
		Image:         image,
		Args:          args,
		Ports:         []corev1.ContainerPort{{Name: "blocks", ContainerPort: ExecutorRPCPort, Protocol: corev1.ProtocolTCP}},
		Env:           append([]corev1.EnvVar{podIPEnv}, processEnv(job)...),
		Resources:     res,
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("blocks")}}, PeriodSeconds: 10, FailureThreshold: 3},
	}
	pod := jobPod(job, RoleExecutor, ExecutorPodName(job, index), c)
	pod.Labels[LabelIndex] = strconv.Itoa(index)
	return withTemplate(pod, job.Spec.Executors.Template)
}

// jobPod is what the driver and executor pods share: labels, the RPC
// secret, the checkpoint store's credentials and CA, a writable work
// directory, and locked-down security defaults.
func jobPod(job *v1alpha1.StreamingJob, role, name string, c corev1.Container) *corev1.Pod {
	c.WorkingDir = workDir
	c.ImagePullPolicy = corev1.PullIfNotPresent
	// A failed process's last log lines become its termination message,
	// which the operator puts in its events and status.
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	c.SecurityContext = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "work", MountPath: workDir})
	volumes := []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	ck := job.Spec.Checkpoint
	if ck.CredentialsSecret != nil {
		volumes = append(volumes, corev1.Volume{Name: "checkpoint-credentials", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: ck.CredentialsSecret.Name}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "checkpoint-credentials", MountPath: credentialsDir, ReadOnly: true})
		c.Env = append(c.Env, corev1.EnvVar{Name: "TRIBUTARY_CHECKPOINT_CREDENTIALS_DIR", Value: credentialsDir})
	}
	if ck.TLS != nil && ck.TLS.CASecret != nil {
		volumes = append(volumes, corev1.Volume{Name: "checkpoint-ca", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: ck.TLS.CASecret.Name}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "checkpoint-ca", MountPath: caDir, ReadOnly: true})
		c.Env = append(c.Env, corev1.EnvVar{Name: "TRIBUTARY_CHECKPOINT_CA_DIR", Value: caDir})
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: job.Namespace, Labels: Labels(job, role)},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{c},
			Volumes:    volumes,
			// The operator replaces failed pods itself, with the job's
			// backoff; the kubelet restarting them in place would hide that.
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr.To(false), // job pods never call the Kubernetes API
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To(int64(60)), // a driver finishes the batches it cut
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		},
	}
}

// podIPEnv is the pod's IP, which the processes advertise to each other.
var podIPEnv = corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
	FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}

// processEnv is what both processes read from the environment.
func processEnv(job *v1alpha1.StreamingJob) []corev1.EnvVar {
	return []corev1.EnvVar{{Name: "TRIBUTARY_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: RPCSecretName(job)}, Key: SecretKey}}}}
}

func httpProbe(path string, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
		PeriodSeconds:    5,
		TimeoutSeconds:   2,
		FailureThreshold: failures,
	}
}

// cores is what an executor offers: its CPU limit, else its request,
// rounded up, and at least one.
func cores(res corev1.ResourceRequirements) int {
	q, ok := res.Limits[corev1.ResourceCPU]
	if !ok {
		q, ok = res.Requests[corev1.ResourceCPU]
	}
	if !ok {
		return 1
	}
	return max(1, int(math.Ceil(float64(q.MilliValue())/1000)))
}

// memoryBound is the executor's memory bound: nine tenths of its memory
// limit, leaving room for what Go does not count.
func memoryBound(res corev1.ResourceRequirements) (int64, bool) {
	q, ok := res.Limits[corev1.ResourceMemory]
	if !ok || q.IsZero() {
		return 0, false
	}
	return q.Value() / 10 * 9, true
}

// withTemplate applies a job's pod overrides: labels and annotations are
// added (the operator's labels win), and the spec is a strategic merge
// patch of the generated one.
func withTemplate(pod *corev1.Pod, t *v1alpha1.PodTemplate) (*corev1.Pod, error) {
	if t == nil {
		return pod, nil
	}
	if len(t.Metadata.Labels) > 0 {
		labels := maps.Clone(t.Metadata.Labels)
		maps.Copy(labels, pod.Labels)
		pod.Labels = labels
	}
	if len(t.Metadata.Annotations) > 0 {
		pod.Annotations = maps.Clone(t.Metadata.Annotations)
	}
	if t.Spec == nil || len(t.Spec.Raw) == 0 {
		return pod, nil
	}
	base, err := json.Marshal(pod.Spec)
	if err != nil {
		return nil, err
	}
	merged, err := strategicpatch.StrategicMergePatch(base, t.Spec.Raw, corev1.PodSpec{})
	if err != nil {
		return nil, fmt.Errorf("template.spec of the %s pod: %w", pod.Labels[LabelRole], err)
	}
	var spec corev1.PodSpec
	if err := json.Unmarshal(merged, &spec); err != nil {
		return nil, fmt.Errorf("template.spec of the %s pod: %w", pod.Labels[LabelRole], err)
	}
	pod.Spec = spec
	return pod, nil
}
