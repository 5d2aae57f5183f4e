package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// Suspend stops the driver at a batch boundary with a final checkpoint and
// removes the pods; resuming starts a driver that recovers from it.
func TestSuspendAndResume(t *testing.T) {
	e := startOperator(t)
	e.create(e.jobManifest("wc", 0, ""))
	e.waitFor("wc", "running", time.Minute, running)

	e.update("wc", func(j *v1alpha1.StreamingJob) { j.Spec.Suspend = true })
	job := e.waitPhase("wc", v1alpha1.PhaseSuspended, time.Minute)
	if pods := e.jobPods("wc"); len(pods) != 0 {
		t.Errorf("%d pods left", len(pods))
	}
	if !meta.IsStatusConditionTrue(job.Status.Conditions, v1alpha1.ConditionSuspended) || meta.IsStatusConditionTrue(job.Status.Conditions, v1alpha1.ConditionReady) {
		t.Errorf("conditions: %+v", job.Status.Conditions)
	}
	if log := e.kubelet.logs("wc-driver"); !strings.Contains(log, "finishing the batches already cut") {
		t.Errorf("the driver did not stop gracefully:\n%s", tail(log, 2000))
	}
	last := job.Status.LastBatchTime

	e.update("wc", func(j *v1alpha1.StreamingJob) { j.Spec.Suspend = false })
	job = e.waitFor("wc", "running again", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		return running(j) && j.Status.LastBatchTime.After(last.Time)
	})
	st := e.driverStatus("wc")
	if st.Checkpoints == nil || st.Checkpoints.RecoveredFrom == "" {
		t.Errorf("the resumed driver did not recover: %+v", st.Checkpoints)
	}
	if job.Status.Restarts != 0 {
		t.Errorf("after resuming: restarts %d", job.Status.Restarts)
	}
	if ev := e.events("wc"); !containsAll(ev, "Suspending", "Resumed") {
		t.Errorf("events:\n%s", ev)
	}
}
