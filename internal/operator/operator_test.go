package operator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/internal/testenv"
)

var cfg *rest.Config

func TestMain(m *testing.M) {
	var stop func() error
	var err error
	if cfg, stop, err = testenv.Start(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = stop()
	os.Exit(code)
}

const job = `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: wc, namespace: %s}
spec:
  batchInterval: 1s
  pipeline:
    sources: [{name: lines, generator: {recordsPerSecond: 10}}]
    outputs: [{from: lines, print: {}}]
`

// The operator as cmd/manager runs it: it wins its leader election,
// reconciles the jobs of the namespaces it watches and no others, and
// counts jobs by phase in its metrics.
func TestTheOperatorWatchesItsNamespacesAsLeader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scheme, err := Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"watched", "ignored", "operator"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := New(cfg, Options{Namespaces: []string{"watched"}}); err == nil || !strings.Contains(err.Error(), "image") {
		t.Errorf("an operator without an image: %v", err)
	}
	mgr, err := New(cfg, Options{Image: "tributary:test", Namespaces: []string{"watched"}, LeaderElection: true,
		LeaderElectionNamespace: "operator", MetricsAddress: "0", ProbeAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	select {
	case <-mgr.Elected():
	case err := <-done:
		t.Fatalf("the manager stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not elected")
	}
	for _, ns := range []string{"watched", "ignored"} {
		j := &v1alpha1.StreamingJob{}
		if err := yaml.Unmarshal([]byte(fmt.Sprintf(job, ns)), j); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	driver := func(ns string) error {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wc-driver"}, &corev1.Pod{})
	}
	for deadline := time.Now().Add(30 * time.Second); driver("watched") != nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watched namespace's job got no driver")
		}
	}
	time.Sleep(time.Second)
	if err := driver("ignored"); !apierrors.IsNotFound(err) {
		t.Errorf("a job outside the watched namespaces was reconciled: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "operator", Name: "tributary-operator.tributary.dev"}, &coordinationv1.Lease{}); err != nil {
		t.Errorf("the leader lease: %v", err)
	}
	// No kubelet here: the job's driver stays Pending.
	want := "\n" + `tributary_operator_jobs{phase="Pending"} 1` + "\n"
	if err := testutil.GatherAndCompare(metrics.Registry, strings.NewReader("# HELP tributary_operator_jobs StreamingJobs by phase.\n# TYPE tributary_operator_jobs gauge"+
		want+`tributary_operator_jobs{phase="Completed"} 0
tributary_operator_jobs{phase="Failed"} 0
tributary_operator_jobs{phase="Recovering"} 0
tributary_operator_jobs{phase="Running"} 0
tributary_operator_jobs{phase="Suspended"} 0
tributary_operator_jobs{phase="Upgrading"} 0
`), "tributary_operator_jobs"); err != nil {
		t.Error(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// With no --image, the operator reads its own from its pod, so that job
// pods follow whatever image an overlay or a Helm value installed.
func TestTheOperatorReadsItsOwnImage(t *testing.T) {
	ctx := context.Background()
	scheme, _ := Scheme()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ops"}})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "operator-0", Namespace: "ops"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "registry.example/tributary:1.2.3"}}}}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAME", "operator-0")
	t.Setenv("POD_NAMESPACE", "ops")
	if img, err := ownImage(cfg, scheme); err != nil || img != "registry.example/tributary:1.2.3" {
		t.Errorf("own image %q, %v", img, err)
	}
	t.Setenv("POD_NAME", "")
	if _, err := ownImage(cfg, scheme); err == nil || !strings.Contains(err.Error(), "--image") {
		t.Errorf("without a pod name: %v", err)
	}
}
