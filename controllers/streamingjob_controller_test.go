package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// A job applied with server-side apply runs as a driver and two executors,
// with its Service, Secret and ConfigMap, all owned by the job; its status
// says Running with the printer columns' fields filled in; and the same
// manifest applied again changes nothing (GitOps).
func TestAJobRunsAndAReappliedManifestChangesNothing(t *testing.T) {
	e := startOperator(t)
	ctx := context.Background()
	manifest := e.jobManifest("wc", 0, "")
	apply := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		must(t, yaml.Unmarshal([]byte(manifest), &u.Object))
		must(t, k8s.Patch(ctx, u, client.Apply, client.FieldOwner("gitops"), client.ForceOwnership))
		return u
	}
	apply()
	// Running can be reported before the first metadata checkpoint, which
	// this test also checks, so it waits for both.
	job := e.waitFor("wc", "running with a checkpoint", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		return running(j) && j.Status.LastCheckpoint != nil
	})

	st := job.Status
	if st.DriverPod != "wc-driver" || st.Executors.Summary != "2/2" || st.Lag == "" || st.LastCheckpoint == nil ||
		!strings.HasPrefix(st.LastCheckpoint.Location, "s3://jobs/wc/metadata/") || st.Restarts != 0 {
		t.Errorf("status: %+v", st)
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionProgressing); c == nil || c.Status != "False" || c.Reason != "Stable" {
		t.Errorf("Progressing: %+v", c)
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionDegraded); c == nil || c.Status != "False" {
		t.Errorf("Degraded: %+v", c)
	}
	if !strings.Contains(e.events("wc"), "Started: started driver wc-driver") {
		t.Errorf("events:\n%s", e.events("wc"))
	}
	// Every object is the job's, so deleting the job collects it.
	for name, obj := range map[string]client.Object{"wc-driver": &corev1.Service{}, "wc-rpc": &corev1.Secret{}, "wc-job": &corev1.ConfigMap{},
		"wc-exec-0": &corev1.Pod{}, "wc-exec-1": &corev1.Pod{}} {
		must(t, k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, obj))
		refs := obj.GetOwnerReferences()
		if len(refs) != 1 || refs[0].UID != job.UID || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("%T %s: owner references %+v", obj, name, refs)
		}
	}
	if pods := e.jobPods("wc"); len(pods) != 3 {
		t.Errorf("%d pods", len(pods))
	}
	driver := e.pod("wc-driver")
	if args := strings.Join(driver.Spec.Containers[0].Args, " "); !strings.HasPrefix(args, "driver --job-file /etc/tributary/job/job.yaml") {
		t.Errorf("driver args: %s", args)
	}

	// The same manifest again: nothing is written.
	before := e.get("wc")
	after := apply()
	if after.GetResourceVersion() != before.ResourceVersion || after.GetGeneration() != before.Generation {
		t.Errorf("re-applying the same manifest wrote the job: resourceVersion %s -> %s, generation %d -> %d",
			before.ResourceVersion, after.GetResourceVersion(), before.Generation, after.GetGeneration())
	}
	cm := &corev1.ConfigMap{}
	must(t, k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: "wc-job"}, cm))
	time.Sleep(time.Second) // reconciles keep polling the driver meanwhile
	cm2 := &corev1.ConfigMap{}
	must(t, k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: "wc-job"}, cm2))
	if cm2.ResourceVersion != cm.ResourceVersion || e.pod("wc-driver").UID != driver.UID {
		t.Error("a reconcile of an unchanged job rewrote its ConfigMap or replaced its driver")
	}
	if got := e.get("wc").Status.ObservedGeneration; got != before.Generation {
		t.Errorf("observedGeneration %d, generation %d", got, before.Generation)
	}
}
