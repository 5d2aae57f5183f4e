package specs

import (
	"fmt"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// Ports of the job's processes.
const (
	DriverRPCPort   = 7077 // executors' sessions with the driver
	DriverHTTPPort  = 8080 // /status, /metrics, /healthz, /readyz
	ExecutorRPCPort = 7078 // blocks, served to peers and the driver
)

// Labels every object of a job carries; the role label tells the driver
// from the executors.
const (
	LabelJob   = "tributary.dev/job"
	LabelRole  = "tributary.dev/role"
	LabelIndex = "tributary.dev/executor-index"

	RoleDriver   = "driver"
	RoleExecutor = "executor"
)

// SecretKey is the RPC secret's key in the job's Secret.
const SecretKey = "secret"

// JobFileKey is the manifest's key in the job's ConfigMap.
const JobFileKey = "job.yaml"

func DriverPodName(job *v1alpha1.StreamingJob) string     { return job.Name + "-driver" }
func DriverServiceName(job *v1alpha1.StreamingJob) string { return job.Name + "-driver" }
func RPCSecretName(job *v1alpha1.StreamingJob) string     { return job.Name + "-rpc" }
func JobConfigMapName(job *v1alpha1.StreamingJob) string  { return job.Name + "-job" }

// ExecutorPodName is stable per index: a replacement has the old one's name
// and executor ID.
func ExecutorPodName(job *v1alpha1.StreamingJob, index int) string {
	return fmt.Sprintf("%s-exec-%d", job.Name, index)
}

// DriverAddress is where executors reach the driver: its headless Service.
func DriverAddress(job *v1alpha1.StreamingJob) string {
	return fmt.Sprintf("%s.%s.svc:%d", DriverServiceName(job), job.Namespace, DriverRPCPort)
}

// Labels are a job's objects' labels for a role.
func Labels(job *v1alpha1.StreamingJob, role string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "tributary",
		"app.kubernetes.io/instance":   job.Name,
		"app.kubernetes.io/component":  role,
		"app.kubernetes.io/managed-by": "tributary-operator",
		LabelJob:                       job.Name,
		LabelRole:                      role,
	}
}
