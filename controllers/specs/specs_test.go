package specs

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/runtime/pipeline"
)

const image = "ghcr.io/tributary-dev/tributary:test"

func job(mutate ...func(*v1alpha1.StreamingJob)) *v1alpha1.StreamingJob {
	j := &v1alpha1.StreamingJob{
		ObjectMeta: metav1.ObjectMeta{Name: "clicks", Namespace: "streams"},
		Spec: v1alpha1.StreamingJobSpec{
			BatchInterval: metav1.Duration{Duration: time.Second},
			Pipeline: v1alpha1.Pipeline{
				Sources: []v1alpha1.Source{{Name: "lines", Socket: &v1alpha1.SocketSource{Host: "feed", Port: 9999}}},
				Streams: []v1alpha1.Stream{{Name: "words", From: "lines", Split: &v1alpha1.Split{}}},
				Outputs: []v1alpha1.Output{{From: "words", Print: &v1alpha1.PrintSink{}}},
			},
			Checkpoint: v1alpha1.CheckpointSpec{Location: "s3://jobs/clicks", Endpoint: "minio:9000"},
		},
	}
	for _, m := range mutate {
		m(j)
	}
	return j
}

func env(c corev1.Container, name string) (corev1.EnvVar, bool) {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return corev1.EnvVar{}, false
	}
	return c.Env[i], true
}

func arg(c corev1.Container, flag string) string {
	i := slices.Index(c.Args, flag)
	if i < 0 || i+1 >= len(c.Args) {
		return ""
	}
	return c.Args[i+1]
}

func mounted(pod *corev1.Pod, path string) bool {
	return slices.ContainsFunc(pod.Spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path })
}

func rawSpec(t *testing.T, v any) *runtime.RawExtension {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &runtime.RawExtension{Raw: data}
}

// Both pods: locked down, secret from the job's Secret, no API token, and
// restarted by the operator rather than the kubelet.
func TestPodsAreLockedDown(t *testing.T) {
	driver, err := DriverPod(job(), image, Restore{})
	if err != nil {
		t.Fatal(err)
	}
	executor, err := ExecutorPod(job(), 0, image)
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range []*corev1.Pod{driver, executor} {
		c := pod.Spec.Containers[0]
		sc := c.SecurityContext
		switch {
		case pod.Namespace != "streams" || pod.Labels[LabelJob] != "clicks":
			t.Errorf("%s: namespace %q, labels %v", pod.Name, pod.Namespace, pod.Labels)
		case sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot || len(sc.Capabilities.Drop) != 1:
			t.Errorf("%s: container security context %+v", pod.Name, sc)
		case pod.Spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
			t.Errorf("%s: seccomp %+v", pod.Name, pod.Spec.SecurityContext.SeccompProfile)
		case pod.Spec.RestartPolicy != corev1.RestartPolicyNever || *pod.Spec.AutomountServiceAccountToken:
			t.Errorf("%s: restart policy %s, service account token mounted %v", pod.Name, pod.Spec.RestartPolicy, *pod.Spec.AutomountServiceAccountToken)
		case c.LivenessProbe == nil:
			t.Errorf("%s: no liveness probe", pod.Name)
		case !mounted(pod, workDir) || c.WorkingDir != workDir:
			t.Errorf("%s: no writable work directory", pod.Name)
		case c.Image != image:
			t.Errorf("%s: image %q", pod.Name, c.Image)
		}
		if e, ok := env(c, "TRIBUTARY_SECRET"); !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "clicks-rpc" || e.ValueFrom.SecretKeyRef.Key != SecretKey {
			t.Errorf("%s: TRIBUTARY_SECRET %+v", pod.Name, e)
		}
	}
	if c := driver.Spec.Containers[0]; arg(c, "--job-file") != jobDir+"/job.yaml" || !mounted(driver, jobDir) ||
		c.ReadinessProbe == nil || c.StartupProbe == nil {
		t.Errorf("driver: args %v, mounts %v", c.Args, c.VolumeMounts)
	}
}

func TestCheckpointCredentialsAndCAAreMounted(t *testing.T) {
	for _, tc := range []struct {
		name           string
		mutate         func(*v1alpha1.StreamingJob)
		creds, caBound bool
	}{
		{"environment credentials", func(*v1alpha1.StreamingJob) {}, false, false},
		{"a credentials Secret", func(j *v1alpha1.StreamingJob) {
			j.Spec.Checkpoint.CredentialsSecret = &corev1.LocalObjectReference{Name: "s3-creds"}
		}, true, false},
		{"a Secret and a CA", func(j *v1alpha1.StreamingJob) {
			j.Spec.Checkpoint.CredentialsSecret = &corev1.LocalObjectReference{Name: "s3-creds"}
			j.Spec.Checkpoint.TLS = &v1alpha1.CheckpointTLS{CASecret: &corev1.LocalObjectReference{Name: "s3-ca"}}
		}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			driver, _ := DriverPod(job(tc.mutate), image, Restore{})
			executor, _ := ExecutorPod(job(tc.mutate), 1, image)
			for _, pod := range []*corev1.Pod{driver, executor} {
				_, credsEnv := env(pod.Spec.Containers[0], "TRIBUTARY_CHECKPOINT_CREDENTIALS_DIR")
				_, caEnv := env(pod.Spec.Containers[0], "TRIBUTARY_CHECKPOINT_CA_DIR")
				if credsEnv != tc.creds || mounted(pod, credentialsDir) != tc.creds || caEnv != tc.caBound || mounted(pod, caDir) != tc.caBound {
					t.Errorf("%s: credentials env %v mounted %v, CA env %v mounted %v", pod.Name, credsEnv, mounted(pod, credentialsDir), caEnv, mounted(pod, caDir))
				}
			}
		})
	}
}

func TestExecutorPodsOfferTheirResources(t *testing.T) {
	for _, tc := range []struct {
		name      string
		res       corev1.ResourceRequirements
		cores     string
		memory    string
		hasMemory bool
	}{
		{"nothing set", corev1.ResourceRequirements{}, "1", "", false},
		{"a fractional CPU limit rounds up", corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}}, "2", "", false},
		{"a request without a limit", corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}, "3", "", false},
		{"a small request is one core", corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}, "1", "", false},
		{"a memory limit bounds nine tenths", corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}, "1", "966367638", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := job(func(j *v1alpha1.StreamingJob) { j.Spec.Executors.Resources = tc.res })
			pod, err := ExecutorPod(j, 3, image)
			if err != nil {
				t.Fatal(err)
			}
			c := pod.Spec.Containers[0]
			if arg(c, "--cores") != tc.cores || arg(c, "--memory-bytes") != tc.memory || slices.Contains(c.Args, "--memory-bytes") != tc.hasMemory {
				t.Errorf("args %v: want --cores %s, --memory-bytes %q", c.Args, tc.cores, tc.memory)
			}
			if pod.Name != "clicks-exec-3" || arg(c, "--id") != "clicks-exec-3" || pod.Labels[LabelIndex] != "3" ||
				arg(c, "--driver") != "clicks-driver.streams.svc:7077" || arg(c, "--advertise") != "$(POD_IP):7078" {
				t.Errorf("pod %s, labels %v, args %v", pod.Name, pod.Labels, c.Args)
			}
			if e, ok := env(c, "POD_IP"); !ok || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
				t.Errorf("POD_IP %+v", e)
			}
			if !slices.Equal(c.Args[:1], []string{"executor"}) || c.Resources.Limits.Cpu().Cmp(*tc.res.Limits.Cpu()) != 0 {
				t.Errorf("command %v, resources %+v", c.Args[:1], c.Resources)
			}
		})
	}
}

func TestPodTemplatesOverrideTheGeneratedPods(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tmpl  func(t *testing.T) *v1alpha1.PodTemplate
		check func(t *testing.T, pod *corev1.Pod)
		err   string
	}{
		{
			name: "labels are added, the operator's win",
			tmpl: func(*testing.T) *v1alpha1.PodTemplate {
				return &v1alpha1.PodTemplate{Metadata: v1alpha1.PodTemplateMetadata{
					Labels:      map[string]string{"team": "ads", LabelJob: "other"},
					Annotations: map[string]string{"prometheus.io/scrape": "true"}}}
			},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Labels["team"] != "ads" || pod.Labels[LabelJob] != "clicks" || pod.Annotations["prometheus.io/scrape"] != "true" {
					t.Errorf("labels %v, annotations %v", pod.Labels, pod.Annotations)
				}
			},
		},
		{
			name: "the spec is a strategic merge patch: the container merges by name",
			tmpl: func(t *testing.T) *v1alpha1.PodTemplate {
				return &v1alpha1.PodTemplate{Spec: rawSpec(t, map[string]any{
					"nodeSelector": map[string]string{"pool": "streaming"},
					"tolerations":  []map[string]string{{"key": "dedicated", "operator": "Exists"}},
					"containers": []map[string]any{{"name": "driver", "env": []map[string]string{{"name": "GOGC", "value": "200"}}},
						{"name": "sidecar", "image": "busybox"}},
				})}
			},
			check: func(t *testing.T, pod *corev1.Pod) {
				if pod.Spec.NodeSelector["pool"] != "streaming" || len(pod.Spec.Tolerations) != 1 || len(pod.Spec.Containers) != 2 {
					t.Fatalf("spec %+v", pod.Spec)
				}
				i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == "driver" })
				driver := pod.Spec.Containers[i]
				if _, ok := env(driver, "GOGC"); !ok || arg(driver, "--job-file") == "" {
					t.Errorf("driver container after the patch: env %v, args %v", driver.Env, driver.Args)
				}
				if _, ok := env(driver, "TRIBUTARY_SECRET"); !ok {
					t.Errorf("the patch dropped the generated env: %v", driver.Env)
				}
			},
		},
		{
			name: "a patch that is not a pod spec is an error naming the pod",
			tmpl: func(t *testing.T) *v1alpha1.PodTemplate {
				return &v1alpha1.PodTemplate{Spec: rawSpec(t, map[string]any{"containers": "not a list"})}
			},
			err: "template.spec of the driver pod",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := job(func(j *v1alpha1.StreamingJob) { j.Spec.Driver.Template = tc.tmpl(t) })
			pod, err := DriverPod(j, image, Restore{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, pod)
		})
	}
}

func TestDriverServiceIsHeadless(t *testing.T) {
	svc := DriverService(job())
	if svc.Name != "clicks-driver" || svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses ||
		svc.Spec.Selector[LabelRole] != RoleDriver || svc.Spec.Selector[LabelJob] != "clicks" || len(svc.Spec.Ports) != 2 {
		t.Fatalf("service %+v", svc)
	}
	driver, _ := DriverPod(job(), image, Restore{})
	for k, v := range svc.Spec.Selector {
		if driver.Labels[k] != v {
			t.Errorf("the selector %v does not select the driver pod %v", svc.Spec.Selector, driver.Labels)
		}
	}
	for _, p := range svc.Spec.Ports {
		if !slices.ContainsFunc(driver.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.StrVal }) {
			t.Errorf("service port %s targets %q, which the driver does not expose", p.Name, p.TargetPort.StrVal)
		}
	}
}

// The driver reads the ConfigMap's manifest as `tributary run` would: it
// parses, and keeps the job's name and spec.
func TestJobConfigMapHoldsARunnableManifest(t *testing.T) {
	cm, err := JobConfigMap(job())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := pipeline.Parse([]byte(cm.Data[JobFileKey]))
	if err != nil {
		t.Fatalf("the manifest does not parse: %v\n%s", err, cm.Data[JobFileKey])
	}
	if parsed.Object.Name != "clicks" || parsed.BatchInterval() != time.Second || parsed.Object.Spec.Checkpoint.Location != "s3://jobs/clicks" {
		t.Fatalf("parsed %+v", parsed.Object)
	}
	if s := RPCSecret(job(), "s3cret"); string(s.Data[SecretKey]) != "s3cret" || s.Name != "clicks-rpc" {
		t.Fatalf("secret %+v", s)
	}
}

// How a driver starts: from its own checkpoints, once from a savepoint, or
// once from empty.
func TestDriverRestoreArguments(t *testing.T) {
	for _, tc := range []struct {
		restore Restore
		want    string
	}{
		{Restore{}, ""},
		{Restore{ID: "stateless-ab12-1"}, " --restore-id stateless-ab12-1"},
		{Restore{ID: "savepoint-x", From: "s3://jobs/clicks/savepoints/x"}, " --restore-id savepoint-x --restore-from s3://jobs/clicks/savepoints/x"},
	} {
		pod, err := DriverPod(job(), image, tc.restore)
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Join(pod.Spec.Containers[0].Args, " ")
		if want := "driver --job-file /etc/tributary/job/job.yaml --listen :7077 --advertise $(POD_IP):7077 --http :8080" + tc.want; args != want {
			t.Errorf("%+v: args %q, want %q", tc.restore, args, want)
		}
	}
}
