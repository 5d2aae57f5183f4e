package controllers

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tributary-dev/tributary/api/v1alpha1"
	"github.com/tributary-dev/tributary/runtime/cluster"
)

// addStream changes the pipeline: a stateless stream and an output.
func addStream(name string) func(*v1alpha1.StreamingJob) {
	return func(j *v1alpha1.StreamingJob) {
		j.Spec.Pipeline.Streams = append(j.Spec.Pipeline.Streams, v1alpha1.Stream{Name: name, From: "words",
			Filter: ptrTo("record.size() > 3")})
		j.Spec.Pipeline.Outputs = append(j.Spec.Pipeline.Outputs, v1alpha1.Output{From: name, Print: &v1alpha1.PrintSink{Records: 1}})
	}
}

// upgraded waits until a new driver runs generation gen and has completed
// batches, and returns its /status.
func (e *operatorEnv) upgraded(name string, old *corev1.Pod) *cluster.Status {
	e.t.Helper()
	e.waitFor(name, "upgraded", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		p := e.pod(name + "-driver")
		return running(j) && p != nil && p.UID != old.UID && j.Status.Deployed.UpgradeStartTime == nil &&
			j.Status.LastBatchTime.After(p.CreationTimestamp.Time)
	})
	return e.driverStatus(name)
}

// Each upgrade mode applies a changed pipeline: last-state resumes from
// the checkpoint, stateless starts from empty, savepoint stops with a
// savepoint that is kept and starts from it. A change to the pods alone
// rolls them and keeps the state, without counting a restart.
func TestUpgradeModes(t *testing.T) {
	e := startOperator(t)
	ctx := context.Background()
	e.create(e.jobManifest("wc", 0, ""))
	e.waitFor("wc", "running", time.Minute, running)

	old := e.pod("wc-driver")
	e.update("wc", addStream("long"))
	st := e.upgraded("wc", old)
	if st.Checkpoints.RecoveredFrom == "" {
		t.Errorf("last-state: the new driver did not resume: %+v", st.Checkpoints)
	}
	if ev := e.events("wc"); !containsAll(ev, "Upgrading", "mode last-state", "Upgraded") {
		t.Errorf("events:\n%s", ev)
	}

	old = e.pod("wc-driver")
	e.update("wc", func(j *v1alpha1.StreamingJob) {
		j.Spec.UpgradeMode = v1alpha1.UpgradeStateless
		addStream("longer")(j)
	})
	st = e.upgraded("wc", old)
	job := e.get("wc")
	if st.Checkpoints.RecoveredFrom != "" || !strings.HasPrefix(job.Status.Deployed.RestoreID, "stateless-") {
		t.Errorf("stateless: recovered from %q, restore %q", st.Checkpoints.RecoveredFrom, job.Status.Deployed.RestoreID)
	}

	old = e.pod("wc-driver")
	e.update("wc", func(j *v1alpha1.StreamingJob) {
		j.Spec.UpgradeMode = v1alpha1.UpgradeSavepoint
		addStream("longest")(j)
	})
	st = e.upgraded("wc", old)
	job = e.get("wc")
	sp := job.Status.LastSavepoint
	if sp == nil || !strings.HasPrefix(sp.Location, "s3://jobs/wc/savepoints/upgrade-wc-") || st.Checkpoints.RecoveredFrom == "" ||
		job.Status.Deployed.RestoreFrom != sp.Location {
		t.Fatalf("savepoint: %+v, recovered from %q, deployed %+v", sp, st.Checkpoints.RecoveredFrom, job.Status.Deployed)
	}
	keys, err := e.store("wc").List(ctx, "savepoints/"+sp.Name+"/metadata/")
	if err != nil || len(keys) != 1 {
		t.Errorf("the savepoint's metadata: %v, %v", keys, err)
	}
	if log := e.kubelet.logs("wc-driver"); !strings.Contains(log, `"msg":"restored"`) {
		t.Error("the new driver did not restore from the savepoint")
	}

	// Pods only: the executors are replaced one at a time, the driver stays.
	driver := e.pod("wc-driver").UID
	execs := map[string]bool{string(e.pod("wc-exec-0").UID): true, string(e.pod("wc-exec-1").UID): true}
	e.update("wc", func(j *v1alpha1.StreamingJob) {
		j.Spec.Executors.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
	})
	e.waitFor("wc", "with rolled executors", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		a, b := e.pod("wc-exec-0"), e.pod("wc-exec-1")
		return running(j) && a != nil && b != nil && !execs[string(a.UID)] && !execs[string(b.UID)] &&
			a.Spec.Containers[0].Resources.Requests.Cpu().MilliValue() == 100
	})
	if e.pod("wc-driver").UID != driver {
		t.Error("an executor change restarted the driver")
	}
	// A driver template change rolls the driver from its checkpoint.
	old = e.pod("wc-driver")
	e.update("wc", func(j *v1alpha1.StreamingJob) {
		j.Spec.Driver.Template = &v1alpha1.PodTemplate{Metadata: v1alpha1.PodTemplateMetadata{Labels: map[string]string{"team": "streams"}}}
	})
	st = e.upgraded("wc", old)
	if job := e.get("wc"); st.Checkpoints.RecoveredFrom == "" || job.Status.Restarts != 0 || e.pod("wc-driver").Labels["team"] != "streams" {
		t.Errorf("driver roll: recovered %q, restarts %d; events:\n%s", st.Checkpoints.RecoveredFrom, job.Status.Restarts, e.events("wc"))
	}
}

// An upgrade whose driver is not ready in time (its image cannot be
// pulled) rolls back to the last spec that ran well; a new spec is tried.
func TestAStuckUpgradeRollsBack(t *testing.T) {
	e := startOperator(t)
	e.create(e.jobManifest("wc", 0, "  rollback: {enabled: true, readyTimeout: 3s}\n"))
	e.waitFor("wc", "running", time.Minute, running)
	e.update("wc", func(j *v1alpha1.StreamingJob) { j.Spec.Image = "registry.example/tributary:unpullable" })
	e.waitPhase("wc", v1alpha1.PhaseUpgrading, 30*time.Second)
	job := e.waitFor("wc", "rolled back", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		return running(j) && meta.IsStatusConditionTrue(j.Status.Conditions, v1alpha1.ConditionDegraded)
	})
	if c := meta.FindStatusCondition(job.Status.Conditions, v1alpha1.ConditionDegraded); c.Reason != "RolledBack" {
		t.Errorf("Degraded: %+v", c)
	}
	if img := e.pod("wc-driver").Spec.Containers[0].Image; img != "tributary:test" {
		t.Errorf("after the rollback the driver runs %s", img)
	}
	if st := e.driverStatus("wc"); st.Checkpoints.RecoveredFrom == "" {
		t.Error("the rolled-back driver did not resume from the checkpoint")
	}
	if !strings.Contains(e.events("wc"), "RolledBack") {
		t.Errorf("events:\n%s", e.events("wc"))
	}
	e.update("wc", func(j *v1alpha1.StreamingJob) { j.Spec.Image = "tributary:test2" })
	e.waitFor("wc", "running the new spec", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		p := e.pod("wc-driver")
		return running(j) && p != nil && p.Spec.Containers[0].Image == "tributary:test2" &&
			!meta.IsStatusConditionTrue(j.Status.Conditions, v1alpha1.ConditionDegraded)
	})
}

// A driver asked to stop with a savepoint that has not stopped within its
// pod's termination grace period is stopped without it: the upgrade goes
// on from the last checkpoint, and an event says why.
func TestASavepointStopThatHangsFallsBackToTheCheckpoint(t *testing.T) {
	var skew atomic.Int64
	e := startOperator(t, func(r *StreamingJobReconciler) {
		r.Drivers = stopsIgnored{r.Drivers}
		r.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	e.create(e.jobManifest("wc", 0, ""))
	e.waitFor("wc", "running", time.Minute, running)

	old := e.pod("wc-driver")
	e.update("wc", func(j *v1alpha1.StreamingJob) {
		j.Spec.UpgradeMode = v1alpha1.UpgradeSavepoint
		addStream("long")(j)
	})
	e.waitFor("wc", "asked to stop with a savepoint", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		return j.Status.Deployed.StopSavepoint != "" && j.Status.Deployed.StopRequestedAt != nil
	})
	time.Sleep(2 * time.Second) // reconciles meanwhile wait for the driver
	if p := e.pod("wc-driver"); p == nil || p.UID != old.UID || p.DeletionTimestamp != nil {
		t.Fatal("the driver was stopped before its termination grace period ended")
	}

	skew.Store(int64(61 * time.Second)) // the driver pod's grace is 60s
	st := e.upgraded("wc", old)
	job := e.get("wc")
	if st.Checkpoints.RecoveredFrom == "" || job.Status.LastSavepoint != nil || job.Status.Deployed.StopSavepoint != "" {
		t.Errorf("recovered from %q, savepoint %+v, deployed %+v", st.Checkpoints.RecoveredFrom, job.Status.LastSavepoint, job.Status.Deployed)
	}
	if ev := e.events("wc"); !containsAll(ev, "SavepointFailed", "did not stop with savepoint upgrade-wc-", "within 1m0s") {
		t.Errorf("events:\n%s", ev)
	}
}

// stopsIgnored is a driver that accepts a stop and never acts on it.
type stopsIgnored struct{ DriverClient }

func (stopsIgnored) Stop(context.Context, *corev1.Pod, string) error { return nil }
