//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// kubectl and helm are run as users run them: what they print is what the
// suite checks.
func kubectl(args ...string) (string, error) { return kubectlIn("", args...) }

func kubectlIn(stdin string, args ...string) (string, error) {
	return command(envOr("KUBECTL", "kubectl"), stdin, args...)
}

func helm(args ...string) (string, error) { return command(envOr("HELM", "helm"), "", args...) }

func command(name, stdin string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// eventually polls cond every second until it holds, failing the test with
// cond's last word and the job namespace's state when timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %v)\n%s", what, timeout, err, diagnostics())
		}
		time.Sleep(time.Second)
	}
}

// diagnostics is what someone debugging a failed run asks for first: the
// jobs, their pods and events, and the last lines of every pod's log.
func diagnostics() string {
	var b strings.Builder
	for _, args := range [][]string{
		{"get", "streamingjobs", "-n", jobNamespace, "-o", "yaml"},
		{"get", "pods", "-n", jobNamespace, "-o", "wide"},
		{"get", "events", "-n", jobNamespace, "--sort-by", ".lastTimestamp"},
		{"logs", "-n", operatorNamespace, "deployment/tributary", "--tail", "60"},
	} {
		out, err := kubectl(args...)
		fmt.Fprintf(&b, "--- kubectl %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "%v\n", err)
		}
	}
	pods, err := clientset.CoreV1().Pods(jobNamespace).List(context.Background(), metav1.ListOptions{})
	if err == nil {
		for _, pod := range pods.Items {
			fmt.Fprintf(&b, "--- %s log\n%s\n", pod.Name, podLog(pod.Name, 40))
		}
	}
	return b.String()
}

// podLog is the tail of a pod's log, or why it could not be read.
func podLog(pod string, lines int64) string {
	body, err := clientset.CoreV1().Pods(jobNamespace).GetLogs(pod, &corev1.PodLogOptions{TailLines: &lines}).
		Do(context.Background()).Raw()
	if err != nil {
		return err.Error()
	}
	return string(body)
}

// forwarder is a port forward to a ready pod behind a selector, as kubectl
// port-forward makes: the suite reads MinIO from outside the cluster the
// same way on kind and on a local cluster. A forward whose pod went away is
// made again.
type forwarder struct {
	namespace, selector string
	port                int

	mu   sync.Mutex
	addr string
	stop chan struct{}
	done chan struct{}
}

func (f *forwarder) address() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done != nil {
		select {
		case <-f.done:
			f.done = nil
		default:
			return f.addr, nil
		}
	}
	ctx := context.Background()
	pods, err := clientset.CoreV1().Pods(f.namespace).List(ctx, metav1.ListOptions{LabelSelector: f.selector})
	if err != nil {
		return "", err
	}
	var pod string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			pod = p.Name
		}
	}
	if pod == "" {
		return "", fmt.Errorf("no running pod in %s matches %s", f.namespace, f.selector)
	}
	transport, upgrader, err := spdy.RoundTripperFor(restConfig)
	if err != nil {
		return "", err
	}
	url := clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(f.namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", f.port)}, stop, ready, io.Discard, os.Stderr)
	if err != nil {
		return "", err
	}
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(done)
		errc <- fw.ForwardPorts()
	}()
	select {
	case <-ready:
	case err := <-errc:
		return "", fmt.Errorf("port-forward to %s/%s: %w", f.namespace, pod, err)
	case <-time.After(30 * time.Second):
		close(stop)
		return "", fmt.Errorf("port-forward to %s/%s: not ready in 30s", f.namespace, pod)
	}
	ports, err := fw.GetPorts()
	if err != nil {
		close(stop)
		return "", err
	}
	f.addr = fmt.Sprintf("127.0.0.1:%d", ports[0].Local)
	f.stop, f.done = stop, done
	return f.addr, nil
}

func (f *forwarder) close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done != nil {
		close(f.stop)
		f.done = nil
	}
}
