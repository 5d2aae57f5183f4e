package controllers

import (
	"context"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// A lost executor is replaced at once, under its name, without restarting
// the driver; batches keep completing.
func TestALostExecutorIsReplacedWithoutARestart(t *testing.T) {
	e := startOperator(t)
	e.create(e.jobManifest("wc", 0, ""))
	e.waitFor("wc", "running", time.Minute, running)
	driver, lost := e.pod("wc-driver").UID, e.pod("wc-exec-1").UID
	e.kubelet.kill("wc-exec-1")
	e.waitFor("wc", "with a replaced executor", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		p := e.pod("wc-exec-1")
		return p != nil && p.UID != lost && running(j)
	})
	batches := e.driverStatus("wc").CompletedBatches
	e.waitFor("wc", "completing batches", 20*time.Second, func(*v1alpha1.StreamingJob) bool {
		return e.driverStatus("wc").CompletedBatches > batches+4
	})
	if job := e.get("wc"); e.pod("wc-driver").UID != driver || job.Status.Restarts != 0 {
		t.Errorf("the driver was restarted (restarts %d)", job.Status.Restarts)
	}
}

// kubectl scale (the scale subresource) adds executors live, and drains
// executors before removing them.
func TestScalingAddsAndDrainsExecutors(t *testing.T) {
	e := startOperator(t)
	ctx := context.Background()
	job := e.create(e.jobManifest("wc", 0, ""))
	e.waitFor("wc", "running", time.Minute, running)
	driver := e.pod("wc-driver").UID

	scale := func(n int32) {
		s := &autoscalingv1.Scale{}
		must(t, k8s.SubResource("scale").Get(ctx, job, s))
		s.Spec.Replicas = n
		must(t, k8s.SubResource("scale").Update(ctx, job, client.WithSubResourceBody(s)))
	}
	scale(3)
	e.waitFor("wc", "with 3 executors", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		return running(j) && j.Status.Executors.Ready == 3 && len(e.driverStatus("wc").Executors) >= 3
	})
	s := &autoscalingv1.Scale{}
	must(t, k8s.SubResource("scale").Get(ctx, job, s))
	if s.Status.Replicas != 3 || s.Status.Selector == "" {
		t.Errorf("scale status: %+v", s.Status)
	}

	scale(1)
	e.waitFor("wc", "with 1 executor", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		return running(j) && j.Status.Executors.Replicas == 1 && e.pod("wc-exec-1") == nil && e.pod("wc-exec-2") == nil
	})
	if !containsAll(e.kubelet.logs("wc-driver"), `"draining executor"`, `"executor":"wc-exec-2"`) {
		t.Error("executor wc-exec-2 was not drained before it went")
	}
	batches := e.driverStatus("wc").CompletedBatches
	e.waitFor("wc", "completing batches on one executor", 20*time.Second, func(*v1alpha1.StreamingJob) bool {
		return e.driverStatus("wc").CompletedBatches > batches+4
	})
	if e.pod("wc-driver").UID != driver {
		t.Error("scaling restarted the driver")
	}
}
