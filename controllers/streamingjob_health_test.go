package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

func degraded(reason string) func(*v1alpha1.StreamingJob) bool {
	return func(j *v1alpha1.StreamingJob) bool {
		c := meta.FindStatusCondition(j.Status.Conditions, v1alpha1.ConditionDegraded)
		return c != nil && c.Status == "True" && c.Reason == reason && c.ObservedGeneration == j.Generation
	}
}

// A job whose checkpoint store is down completes no batch: after
// stallBatches intervals it is Degraded, saying why, and it recovers when
// the store is back.
func TestAStalledJobIsDegraded(t *testing.T) {
	e := startOperator(t)
	e.create(e.jobManifest("wc", 0, "  health: {stallBatches: 8}\n"))
	e.waitFor("wc", "running", time.Minute, running)
	e.minio.Stop()
	job := e.waitFor("wc", "stalled, saying why", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		c := meta.FindStatusCondition(j.Status.Conditions, v1alpha1.ConditionDegraded)
		return degraded("Stalled")(j) && strings.Contains(c.Message, "no batch has completed") && strings.Contains(c.Message, "checkpoint store")
	})
	if meta.IsStatusConditionTrue(job.Status.Conditions, v1alpha1.ConditionReady) {
		t.Error("a stalled job is Ready")
	}
	e.minio.Restart()
	e.waitFor("wc", "running again", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		return running(j) && !meta.IsStatusConditionTrue(j.Status.Conditions, v1alpha1.ConditionDegraded)
	})
}

// Pods that cannot start (an image that cannot be pulled) make the job
// Degraded after the start timeout, with the kubelet's reason, instead of
// Pending without a word.
func TestPodsThatCannotStartAreReported(t *testing.T) {
	e := startOperator(t)
	e.kubelet.holdPulling("wc", true)
	e.create(e.jobManifest("wc", 0, "  health: {startTimeout: 2s}\n"))
	job := e.waitFor("wc", "reported", 30*time.Second, degraded("PodsNotStarting"))
	if c := meta.FindStatusCondition(job.Status.Conditions, v1alpha1.ConditionDegraded); !strings.Contains(c.Message, "ErrImagePull") ||
		job.Status.Phase != v1alpha1.PhasePending || !strings.Contains(job.Status.Message, "pending for") {
		t.Errorf("phase %s, message %q, Degraded %q", job.Status.Phase, job.Status.Message, c.Message)
	}
	e.kubelet.holdPulling("wc", false)
	e.waitFor("wc", "running", time.Minute, running)
}

// A pipeline only the operator can judge (a CEL error) sets Degraded with
// the error and its field, starts nothing and does not crash-loop; a
// running job given a bad change keeps running the spec it has.
func TestAnInvalidPipelineIsReportedNotRun(t *testing.T) {
	e := startOperator(t)
	manifest := strings.Replace(e.jobManifest("bad", 0, ""), "keyBy: {key: record}", `keyBy: {key: "record +"}`, 1)
	e.create(manifest)
	job := e.waitFor("bad", "reported", 30*time.Second, degraded("InvalidSpec"))
	c := meta.FindStatusCondition(job.Status.Conditions, v1alpha1.ConditionDegraded)
	if job.Status.Phase != v1alpha1.PhaseFailed || !strings.Contains(c.Message, "pipeline.streams[1]") || job.Status.ObservedGeneration != job.Generation {
		t.Errorf("phase %s, observedGeneration %d/%d, Degraded %q", job.Status.Phase, job.Status.ObservedGeneration, job.Generation, c.Message)
	}
	if pods := e.jobPods("bad"); len(pods) != 0 {
		t.Errorf("%d pods for an invalid job", len(pods))
	}
	e.update("bad", func(j *v1alpha1.StreamingJob) { j.Spec.Pipeline.Streams[1].KeyBy.Key = "record" })
	e.waitFor("bad", "running once fixed", time.Minute, running)

	driver := e.pod("bad-driver").UID
	e.update("bad", func(j *v1alpha1.StreamingJob) { j.Spec.Pipeline.Streams[1].KeyBy.Key = "record +" })
	e.waitFor("bad", "reported", 30*time.Second, degraded("InvalidSpec"))
	time.Sleep(2 * time.Second)
	if job := e.get("bad"); e.pod("bad-driver").UID != driver || !running(job) {
		t.Errorf("a bad change stopped the running job: phase %s", job.Status.Phase)
	}
}

// A bounded job that finishes its run is Completed; its executors go.
func TestABoundedJobCompletes(t *testing.T) {
	e := startOperator(t)
	e.create(e.jobManifest("once", 800, ""))
	job := e.waitPhase("once", v1alpha1.PhaseCompleted, time.Minute)
	if meta.IsStatusConditionTrue(job.Status.Conditions, v1alpha1.ConditionProgressing) || meta.IsStatusConditionTrue(job.Status.Conditions, v1alpha1.ConditionDegraded) {
		t.Errorf("conditions: %+v", job.Status.Conditions)
	}
	e.waitFor("once", "without executors", 30*time.Second, func(*v1alpha1.StreamingJob) bool {
		return e.pod("once-exec-0") == nil && e.pod("once-exec-1") == nil
	})
	if p := e.pod("once-driver"); p == nil || p.Status.Phase != "Succeeded" {
		t.Error("the finished driver pod is not kept for its logs")
	}
}

// With restartOnStall, a stalled driver is restarted; a driver that does
// not become ready within health.readyTimeout (it cannot reach its store to
// recover) counts as failed and is restarted too, with the backoff, until
// one runs.
func TestStalledAndUnreadyDriversAreRestarted(t *testing.T) {
	e := startOperator(t)
	e.create(e.jobManifest("wc", 0, "  health: {stallBatches: 4, restartOnStall: true, readyTimeout: 3s}\n"))
	e.waitFor("wc", "running", time.Minute, running)
	e.minio.Stop()
	e.waitFor("wc", "restarted for its stall", time.Minute, func(*v1alpha1.StreamingJob) bool {
		return strings.Contains(e.events("wc"), "the job stalled: no batch has completed")
	})
	e.waitFor("wc", "restarted for not becoming ready", time.Minute, func(*v1alpha1.StreamingJob) bool {
		return strings.Contains(e.events("wc"), "the driver did not become ready within 3s")
	})
	e.minio.Restart()
	job := e.waitFor("wc", "running again", 2*time.Minute, running)
	if job.Status.Restarts < 2 {
		t.Errorf("restarts %d", job.Status.Restarts)
	}
}
