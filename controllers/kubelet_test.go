package controllers

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tributary-dev/tributary/controllers/specs"
)

// testKubelet plays the kubelet and the cluster network for envtest. It
// binds each pod of one namespace to a node, runs its container as a local
// process of the real driver or executor binary, and reports the pod's
// phase, IP, readiness and exit as a kubelet does. A deleted pod's process
// gets SIGTERM and its grace period; only then does the pod go, as on a
// node. Pod addresses are 127.0.0.1 with a port per job and role, which
// stays the same across a job's drivers, as its Service name does.
type testKubelet struct {
	t         *testing.T
	c         client.Client
	namespace string
	bins      map[string]string // role -> binary
	env       []string

	mu    sync.Mutex
	procs map[types.UID]*podProc
	ports map[string]string // job/port name -> 127.0.0.1:port
	// pulling holds the pods of a job in Pending, as an image that cannot
	// be pulled does.
	pulling map[string]bool
}

type podProc struct {
	cmd      *exec.Cmd
	name     string
	role     string
	httpAddr string
	ready    bool
	termed   bool
	done     chan struct{}
	exitCode int // once done
	logs     *syncWriter
}

var (
	binsOnce sync.Once
	bins     map[string]string
	binsErr  error
)

// jobBinaries builds the driver and executor once per test binary.
func jobBinaries(t *testing.T) map[string]string {
	t.Helper()
	binsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tributary-bins-")
		if err != nil {
			binsErr = err
			return
		}
		bins = map[string]string{}
		for _, role := range []string{specs.RoleDriver, specs.RoleExecutor} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(dir, role), "github.com/tributary-dev/tributary/cmd/"+role).CombinedOutput()
			if err != nil {
				binsErr = fmt.Errorf("building %s: %v\n%s", role, err, out)
				return
			}
			bins[role] = filepath.Join(dir, role)
		}
	})
	if binsErr != nil {
		t.Fatal(binsErr)
	}
	return bins
}

func startKubelet(t *testing.T, c client.Client, namespace string, env ...string) *testKubelet {
	k := &testKubelet{t: t, c: c, namespace: namespace, bins: jobBinaries(t), env: env,
		procs: map[types.UID]*podProc{}, ports: map[string]string{}, pulling: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for ctx.Err() == nil {
			k.sync(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, p := range k.procs {
			_ = p.cmd.Process.Kill()
			<-p.done
			if t.Failed() {
				t.Logf("--- %s log:\n%s", p.name, tail(p.logs.String(), 4000))
			}
		}
	})
	return k
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// port is the job's stable address for a named port.
func (k *testKubelet) port(job, name string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := job + "/" + name
	if a, ok := k.ports[key]; ok {
		return a
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		k.t.Fatal(err)
	}
	a := lis.Addr().String()
	lis.Close()
	k.ports[key] = a
	return a
}

// driverURL is where the operator reaches a job's driver.
func (k *testKubelet) driverURL(pod *corev1.Pod) (string, error) {
	return "http://" + k.port(pod.Labels[specs.LabelJob], "driver-http"), nil
}

// kill ends a pod's process as a crash does.
func (k *testKubelet) kill(podName string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.procs {
		if p.name == podName && !p.isDone() {
			_ = p.cmd.Process.Kill()
		}
	}
}

// holdPulling keeps a job's new pods Pending with an image pull error.
func (k *testKubelet) holdPulling(job string, hold bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pulling[job] = hold
}

func (k *testKubelet) sync(ctx context.Context) {
	var pods corev1.PodList
	if err := k.c.List(ctx, &pods, client.InNamespace(k.namespace), client.HasLabels{specs.LabelJob}); err != nil {
		return
	}
	seen := map[types.UID]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		seen[pod.UID] = true
		k.syncPod(ctx, pod)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid, p := range k.procs {
		if !seen[uid] {
			_ = p.cmd.Process.Kill()
		}
	}
}

func (k *testKubelet) syncPod(ctx context.Context, pod *corev1.Pod) {
	if pod.Spec.NodeName == "" && pod.DeletionTimestamp.IsZero() {
		binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
			Target: corev1.ObjectReference{Kind: "Node", Name: "envtest-node"}}
		_ = k.c.SubResource("binding").Create(ctx, pod, binding)
		return
	}
	k.mu.Lock()
	p := k.procs[pod.UID]
	pulling := k.pulling[pod.Labels[specs.LabelJob]] || strings.Contains(pod.Spec.Containers[0].Image, "unpullable")
	k.mu.Unlock()
	if !pod.DeletionTimestamp.IsZero() {
		if p != nil && !p.isDone() {
			if !p.termed {
				p.termed = true
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
			}
			if grace := pod.DeletionGracePeriodSeconds; grace != nil && time.Since(pod.DeletionTimestamp.Time) > time.Duration(*grace)*time.Second {
				_ = p.cmd.Process.Kill()
			}
			return
		}
		_ = k.c.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
		return
	}
	switch {
	case p == nil && pod.Status.Phase == corev1.PodPending && pulling:
		k.setStatus(ctx, pod, func(st *corev1.PodStatus) {
			st.ContainerStatuses = []corev1.ContainerStatus{{Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "pull access denied"}}}}
		})
	case p == nil && pod.Status.Phase == corev1.PodPending:
		k.start(ctx, pod)
	case p != nil && p.isDone() && pod.Status.Phase == corev1.PodRunning:
		k.setStatus(ctx, pod, func(st *corev1.PodStatus) {
			code := int32(p.exitCode)
			st.Phase = corev1.PodSucceeded
			if code != 0 {
				st.Phase = corev1.PodFailed
			}
			st.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
			st.ContainerStatuses = []corev1.ContainerStatus{{Name: pod.Spec.Containers[0].Name,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: lastLine(p.logs.String())}}}}
		})
	case p != nil && !p.ready && pod.Status.Phase == corev1.PodRunning && k.probeReady(p):
		p.ready = true
		k.setStatus(ctx, pod, func(st *corev1.PodStatus) {
			st.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		})
	}
}

func (p *podProc) isDone() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// probeReady is the readiness probe: the driver's /readyz; an executor is
// ready once it runs.
func (k *testKubelet) probeReady(p *podProc) bool {
	if p.role != specs.RoleDriver {
		return true
	}
	resp, err := http.Get("http://" + p.httpAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (k *testKubelet) setStatus(ctx context.Context, pod *corev1.Pod, edit func(*corev1.PodStatus)) {
	patch := client.MergeFrom(pod.DeepCopy())
	edit(&pod.Status)
	if err := k.c.Status().Patch(ctx, pod, patch); err != nil && !apierrors.IsNotFound(err) {
		k.t.Logf("kubelet: status of %s: %v", pod.Name, err)
	}
}

// start runs a pod's container: its volumes become directories, its
// environment is resolved, and its listen addresses become the job's ports.
func (k *testKubelet) start(ctx context.Context, pod *corev1.Pod) {
	c := pod.Spec.Containers[0]
	job := pod.Labels[specs.LabelJob]
	role := pod.Labels[specs.LabelRole]
	root := k.t.TempDir()
	mounts := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(root, v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			k.t.Error(err)
			return
		}
		var files map[string][]byte
		switch {
		case v.ConfigMap != nil:
			var cm corev1.ConfigMap
			if err := k.c.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: v.ConfigMap.Name}, &cm); err != nil {
				return // not there yet: a kubelet waits too
			}
			files = map[string][]byte{}
			for key, val := range cm.Data {
				files[key] = []byte(val)
			}
		case v.Secret != nil:
			var s corev1.Secret
			if err := k.c.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: v.Secret.SecretName}, &s); err != nil {
				return
			}
			files = s.Data
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				k.t.Error(err)
				return
			}
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				mounts[m.MountPath] = dir
			}
		}
	}
	local := func(s string) string {
		for path, dir := range mounts {
			if strings.HasPrefix(s, path) {
				return dir + strings.TrimPrefix(s, path)
			}
		}
		return s
	}
	env := append(os.Environ(), k.env...)
	for _, e := range c.Env {
		val := e.Value
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			var s corev1.Secret
			if err := k.c.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: e.ValueFrom.SecretKeyRef.Name}, &s); err != nil {
				return
			}
			val = string(s.Data[e.ValueFrom.SecretKeyRef.Key])
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			val = "127.0.0.1"
		}
		env = append(env, e.Name+"="+local(val))
	}
	args := append([]string(nil), c.Args[1:]...)
	p := &podProc{name: pod.Name, role: role, done: make(chan struct{}), logs: &syncWriter{w: &bytes.Buffer{}}}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--listen", "--advertise":
			if role == specs.RoleDriver {
				args[i+1] = k.port(job, "driver-rpc")
			} else {
				args[i+1] = k.port(job, pod.Name)
			}
		case "--http":
			p.httpAddr = k.port(job, "driver-http")
			args[i+1] = p.httpAddr
		case "--driver":
			args[i+1] = k.port(job, "driver-rpc")
		default:
			args[i+1] = local(args[i+1])
		}
	}
	cmd := exec.Command(k.bins[c.Args[0]], args...)
	cmd.Env = append(env, "TRIBUTARY_HEARTBEAT_INTERVAL=100ms")
	cmd.Dir = filepath.Join(root, "work")
	if d, ok := mounts["/var/lib/tributary"]; ok {
		cmd.Dir = d
	}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	p.cmd = cmd
	if err := cmd.Start(); err != nil {
		k.t.Errorf("starting %s: %v", pod.Name, err)
		return
	}
	go func() {
		_ = cmd.Wait()
		p.exitCode = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	k.mu.Lock()
	k.procs[pod.UID] = p
	k.mu.Unlock()
	k.setStatus(ctx, pod, func(st *corev1.PodStatus) {
		now := metav1.Now()
		st.Phase, st.PodIP, st.StartTime = corev1.PodRunning, "127.0.0.1", &now
		st.PodIPs = []corev1.PodIP{{IP: "127.0.0.1"}}
		st.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now}}
		st.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, Started: ptrTo(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	})
}

// logs returns a pod's process log, newest incarnation.
func (k *testKubelet) logs(podName string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b strings.Builder
	for _, p := range k.procs {
		if p.name == podName {
			b.WriteString(p.logs.String())
		}
	}
	return b.String()
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func ptrTo[T any](v T) *T { return &v }
