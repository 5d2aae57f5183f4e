package specs

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// DriverService is the driver's headless Service: executors reach the
// driver by its DNS name, and the operator reads its /status. Addresses
// are published before the driver is ready, since its readiness waits for
// the executors that connect through it.
func DriverService(job *v1alpha1.StreamingJob) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: DriverServiceName(job), Namespace: job.Namespace, Labels: Labels(job, RoleDriver)},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 map[string]string{LabelJob: job.Name, LabelRole: RoleDriver},
			PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{
				{Name: "rpc", Port: DriverRPCPort, TargetPort: intstr.FromString("rpc"), Protocol: corev1.ProtocolTCP},
				{Name: "http", Port: DriverHTTPPort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// RPCSecret holds the secret that authenticates executors to the driver;
// the reconciler generates it once and keeps it.
func RPCSecret(job *v1alpha1.StreamingJob, secret string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: RPCSecretName(job), Namespace: job.Namespace, Labels: Labels(job, RoleDriver)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{SecretKey: []byte(secret)},
	}
}

// JobConfigMap holds the manifest the driver runs: the job's name and spec,
// as `tributary run` would read it.
func JobConfigMap(job *v1alpha1.StreamingJob) (*corev1.ConfigMap, error) {
	manifest := v1alpha1.StreamingJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "StreamingJob"},
		ObjectMeta: metav1.ObjectMeta{Name: job.Name, Namespace: job.Namespace},
		Spec:       job.Spec,
	}
	data, err := yaml.Marshal(manifest)
	if err != nil {
		return nil, fmt.Errorf("encoding the job's manifest: %w", err)
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: JobConfigMapName(job), Namespace: job.Namespace, Labels: Labels(job, RoleDriver)},
		Data:       map[string]string{JobFileKey: string(data)},
	}, nil
}
