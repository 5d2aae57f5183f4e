package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// A crashed driver is replaced after the backoff (1s, then 2s), and the
// new one recovers from the checkpoint; the count resets after resetAfter
// of stable running. A driver pod deleted by hand counts as a failure too.
func TestAFailedDriverIsRestartedAfterItsBackoff(t *testing.T) {
	e := startOperator(t)
	e.create(e.jobManifest("wc", 0, ""))
	e.waitFor("wc", "running", time.Minute, running)
	first := e.pod("wc-driver").UID

	e.kubelet.kill("wc-driver")
	job := e.waitFor("wc", "restarting", 20*time.Second, func(j *v1alpha1.StreamingJob) bool { return j.Status.Restarts == 1 })
	// The status shows the backoff only until the restart, which a loaded
	// machine can let pass unseen; the event keeps it.
	if job.Status.NextRestartTime != nil && (job.Status.Backoff != "1s" || job.Status.Phase != v1alpha1.PhaseRecovering) {
		t.Errorf("first restart: backoff %q, phase %s while the restart is due", job.Status.Backoff, job.Status.Phase)
	}
	job = e.waitFor("wc", "running again", time.Minute, running)
	if d := e.pod("wc-driver"); d.UID == first {
		t.Fatal("the driver pod was not replaced")
	}
	if st := e.driverStatus("wc"); st.Checkpoints == nil || st.Checkpoints.RecoveredFrom == "" {
		t.Errorf("the new driver did not recover from the checkpoint: %+v", st.Checkpoints)
	}
	if ev := e.events("wc"); !containsAll(ev, "DriverFailed", "restarting it in 1s (restart 1)", "Restarted", "Recovered") {
		t.Errorf("events:\n%s", ev)
	}

	// A second failure before the reset: the backoff doubles.
	e.kubelet.kill("wc-driver")
	job = e.waitFor("wc", "restarting again", 20*time.Second, func(j *v1alpha1.StreamingJob) bool { return j.Status.Restarts == 2 })
	if job.Status.NextRestartTime != nil && job.Status.Backoff != "2s" {
		t.Errorf("second restart: backoff %q", job.Status.Backoff)
	}
	if ev := e.events("wc"); !strings.Contains(ev, "restarting it in 2s (restart 2)") {
		t.Errorf("events:\n%s", ev)
	}
	e.waitFor("wc", "running again", time.Minute, running)

	// Stable for resetAfter (4s): the count starts over.
	e.waitFor("wc", "reset", 20*time.Second, func(j *v1alpha1.StreamingJob) bool { return j.Status.Restarts == 0 && running(j) })

	// Deleting the driver pod by hand is a failure too.
	before := e.pod("wc-driver").UID
	must(t, k8s.Delete(context.Background(), e.pod("wc-driver")))
	e.waitFor("wc", "restarted after a deletion", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		p := e.pod("wc-driver")
		return j.Status.Restarts == 1 && p != nil && p.UID != before && running(j)
	})
}

// After maxRestarts the job is Failed, with a condition that says why, and
// its executors are removed.
func TestTheRestartLimitFailsTheJob(t *testing.T) {
	e := startOperator(t)
	manifest := strings.Replace(e.jobManifest("wc", 0, ""), "restartPolicy: {", "restartPolicy: {maxRestarts: 1, ", 1)
	e.create(manifest)
	e.waitFor("wc", "running", time.Minute, running)
	e.kubelet.kill("wc-driver")
	e.waitFor("wc", "running again", time.Minute, func(j *v1alpha1.StreamingJob) bool { return j.Status.Restarts == 1 && running(j) })
	e.kubelet.kill("wc-driver")
	job := e.waitPhase("wc", v1alpha1.PhaseFailed, time.Minute)
	c := meta.FindStatusCondition(job.Status.Conditions, v1alpha1.ConditionDegraded)
	if c == nil || c.Status != "True" || c.Reason != "RestartLimitExceeded" || !strings.Contains(c.Message, "exited with code") {
		t.Errorf("Degraded: %+v", c)
	}
	e.waitFor("wc", "without pods", 30*time.Second, func(*v1alpha1.StreamingJob) bool { return len(e.jobPods("wc")) == 0 })

	// A changed spec gets a new chance.
	e.update("wc", func(j *v1alpha1.StreamingJob) { j.Spec.Parallelism = 3 })
	e.waitFor("wc", "running with the new spec", time.Minute, running)
}
