package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/controllers/specs"
	"github.com/tributary-dev/tributary/runtime/checkpoint"
	"github.com/tributary-dev/tributary/runtime/checkpoint/miniotest"
	"github.com/tributary-dev/tributary/runtime/cluster"
)

// operatorEnv is one test's world: a namespace of its own on the envtest
// API server, the operator watching it, a kubelet running its pods as
// local processes, and a MinIO holding its checkpoints.
type operatorEnv struct {
	t       *testing.T
	ns      string
	kubelet *testKubelet
	minio   *miniotest.Server
	store   func(prefix string) checkpoint.Store
}

// startOperator starts the operator for one test; opts change its
// reconciler before it starts.
func startOperator(t *testing.T, opts ...func(*StreamingJobReconciler)) *operatorEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs jobs' processes against MinIO for half a minute or more; run without -short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &operatorEnv{t: t, ns: "t-" + rand.String(6), minio: miniotest.Start(t)}
	e.minio.MakeBucket(t, "jobs")
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}))
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "minio", Namespace: e.ns},
		StringData: map[string]string{"accessKeyID": miniotest.User, "secretAccessKey": miniotest.Password}}))
	e.store = func(prefix string) checkpoint.Store {
		s, err := checkpoint.NewS3(checkpoint.S3Config{Endpoint: e.minio.Addr, Bucket: "jobs", Prefix: prefix, Insecure: true,
			Credentials: checkpoint.Credentials{AccessKeyID: miniotest.User, SecretAccessKey: miniotest.Password}})
		must(t, err)
		return s
	}
	e.kubelet = startKubelet(t, k8s, e.ns)
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 testScheme,
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{e.ns: {}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptrTo(true)},
	})
	must(t, err)
	r := &StreamingJobReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Events: mgr.GetEventRecorder("tributary-operator"),
		Image: "tributary:test", Drivers: &HTTPDriverClient{HTTP: &http.Client{Timeout: time.Minute}, BaseURL: e.kubelet.driverURL}}
	for _, opt := range opts {
		opt(r)
	}
	must(t, r.SetupWithManager(mgr, 2))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// jobManifest is a stateful word count over a generator, checkpointed to
// the test's MinIO every second; count 0 runs until stopped.
func (e *operatorEnv) jobManifest(name string, count int, extra string) string {
	return fmt.Sprintf(`apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: %s, namespace: %s}
spec:
  batchInterval: 250ms
  executors: {replicas: 2}
  restartPolicy: {initialBackoff: 1s, maxBackoff: 4s, resetAfter: 4s}
  checkpoint:
    location: s3://jobs/%s
    endpoint: %q
    interval: 1s
    tls: {disabled: true}
    credentialsSecret: {name: minio}
  pipeline:
    sources:
      - name: lines
        generator: {recordsPerSecond: 400, count: %d, recordSize: 40, seed: 3}
    streams:
      - {name: words, from: lines, split: {}}
      - {name: pairs, from: words, keyBy: {key: record}}
      - name: totals
        from: pairs
        updateStateByKey: {update: "(state == null ? 0 : state) + values.size()"}
    outputs:
      - from: totals
        files: {path: s3://jobs/%s-out/totals}
%s`, name, e.ns, name, e.minio.Addr, count, name, extra)
}

func (e *operatorEnv) create(manifest string) *v1alpha1.StreamingJob {
	e.t.Helper()
	job := &v1alpha1.StreamingJob{}
	must(e.t, yaml.UnmarshalStrict([]byte(manifest), job))
	must(e.t, k8s.Create(context.Background(), job))
	return job
}

func (e *operatorEnv) get(name string) *v1alpha1.StreamingJob {
	e.t.Helper()
	job := &v1alpha1.StreamingJob{}
	must(e.t, k8s.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, job))
	return job
}

// update changes a job's spec, retrying on conflicts with the operator's
// status writes.
func (e *operatorEnv) update(name string, edit func(*v1alpha1.StreamingJob)) {
	e.t.Helper()
	for range 10 {
		job := e.get(name)
		edit(job)
		err := k8s.Update(context.Background(), job)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			e.t.Fatal(err)
		}
	}
	e.t.Fatal("too many conflicts")
}

// waitFor polls the job until ok, or fails the test with the last status.
func (e *operatorEnv) waitFor(name, what string, timeout time.Duration, ok func(*v1alpha1.StreamingJob) bool) *v1alpha1.StreamingJob {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		job := e.get(name)
		if ok(job) {
			return job
		}
		if time.Now().After(deadline) {
			st, _ := json.MarshalIndent(job.Status, "", "  ")
			e.t.Fatalf("%s: not %s after %s; status:\n%s\nevents:\n%s", name, what, timeout, st, e.events(name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *operatorEnv) waitPhase(name string, phase v1alpha1.Phase, timeout time.Duration) *v1alpha1.StreamingJob {
	e.t.Helper()
	return e.waitFor(name, string(phase), timeout, func(j *v1alpha1.StreamingJob) bool { return j.Status.Phase == phase })
}

// running: Running, Ready, with batches completing and every executor ready.
func running(j *v1alpha1.StreamingJob) bool {
	return j.Status.Phase == v1alpha1.PhaseRunning && meta.IsStatusConditionTrue(j.Status.Conditions, v1alpha1.ConditionReady) &&
		j.Status.LastBatchTime != nil && j.Status.Executors.Ready == j.Status.Executors.Desired && j.Status.ObservedGeneration == j.Generation
}

func (e *operatorEnv) pod(name string) *corev1.Pod {
	e.t.Helper()
	pod := &corev1.Pod{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		e.t.Fatal(err)
	}
	return pod
}

func (e *operatorEnv) jobPods(job string) []corev1.Pod {
	e.t.Helper()
	var pods corev1.PodList
	must(e.t, k8s.List(context.Background(), &pods, client.InNamespace(e.ns), client.MatchingLabels{specs.LabelJob: job}))
	return pods.Items
}

// events lists the job's events, oldest first, as "Reason: note".
func (e *operatorEnv) events(name string) string {
	var list corev1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(e.ns)); err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == name {
			fmt.Fprintf(&b, "%s %s: %s\n", ev.Type, ev.Reason, ev.Message)
		}
	}
	return b.String()
}

// driverStatus is the job's driver's /status, as the operator reads it.
func (e *operatorEnv) driverStatus(job string) *cluster.Status {
	e.t.Helper()
	pod := e.pod(job + "-driver")
	if pod == nil {
		e.t.Fatalf("job %s has no driver", job)
	}
	v, err := (&HTTPDriverClient{HTTP: http.DefaultClient, BaseURL: e.kubelet.driverURL}).Status(context.Background(), pod)
	must(e.t, err)
	return v
}
