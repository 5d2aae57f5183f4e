package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tributary-dev/tributary/api/v1alpha1"
)

// deleteJob deletes a job and waits until the finalizer lets it go.
func (e *operatorEnv) deleteJob(name string) {
	e.t.Helper()
	ctx := context.Background()
	must(e.t, k8s.Delete(ctx, e.get(name)))
	deadline := time.Now().Add(time.Minute)
	for {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, &v1alpha1.StreamingJob{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s was not deleted: %v\nevents:\n%s", name, err, e.events(name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// On demand savepoints (the spec field and the annotation) are taken
// without restarting the job. Deleting a job stops its driver gracefully,
// then keeps (Retain) or removes (Delete) its checkpoints; savepoints are
// always kept.
func TestSavepointsAndDeletionWithEachRetentionPolicy(t *testing.T) {
	e := startOperator(t)
	ctx := context.Background()
	e.create(e.jobManifest("kept", 0, ""))
	e.create(strings.Replace(e.jobManifest("gone", 0, ""), "interval: 1s", "interval: 1s\n    retentionPolicy: Delete", 1))
	e.waitFor("kept", "running", time.Minute, running)
	e.waitFor("gone", "running", time.Minute, running)

	driver := e.pod("gone-driver").UID
	e.update("gone", func(j *v1alpha1.StreamingJob) { j.Spec.SavepointTrigger = "1" })
	job := e.waitFor("gone", "with a savepoint", time.Minute, func(j *v1alpha1.StreamingJob) bool { return j.Status.LastSavepoint != nil })
	first := job.Status.LastSavepoint
	if !strings.HasPrefix(first.Location, "s3://jobs/gone/savepoints/gone-") || first.BatchTime == nil {
		t.Errorf("savepoint %+v", first)
	}
	e.update("gone", func(j *v1alpha1.StreamingJob) {
		j.Annotations = map[string]string{"tributary.dev/savepoint-trigger": "nightly-1"}
	})
	e.waitFor("gone", "with a second savepoint", time.Minute, func(j *v1alpha1.StreamingJob) bool {
		return j.Status.LastSavepoint != nil && j.Status.LastSavepoint.Name != first.Name
	})
	if e.pod("gone-driver").UID != driver || !containsAll(e.events("gone"), "SavepointTaken") {
		t.Errorf("savepoints restarted the driver, or said nothing:\n%s", e.events("gone"))
	}

	// Another job starts from the savepoint, once.
	copyJob := strings.Replace(e.jobManifest("copy", 0, ""), "  restartPolicy:", "  restoreFrom: "+first.Location+"\n  restartPolicy:", 1)
	e.create(copyJob)
	e.waitFor("copy", "running from the savepoint", time.Minute, running)
	if st := e.driverStatus("copy"); st.Checkpoints.RecoveredFrom == "" || !strings.Contains(e.kubelet.logs("copy-driver"), `"msg":"restored"`) {
		t.Errorf("the job with restoreFrom did not start from the savepoint: %+v", st.Checkpoints)
	}
	e.kubelet.kill("copy-driver")
	e.waitFor("copy", "restarted", time.Minute, func(j *v1alpha1.StreamingJob) bool { return j.Status.Restarts == 1 && running(j) })
	if log := e.kubelet.logs("copy-driver"); strings.Count(log, `"msg":"restored"`) != 1 {
		t.Error("a restart went back to the savepoint instead of resuming")
	}

	e.deleteJob("kept")
	if log := e.kubelet.logs("kept-driver"); !strings.Contains(log, "finishing the batches already cut") {
		t.Error("the deleted job's driver did not stop gracefully")
	}
	if keys, err := e.store("kept").List(ctx, "metadata/"); err != nil || len(keys) == 0 {
		t.Errorf("Retain: the checkpoints are gone: %v %v", keys, err)
	}

	e.deleteJob("gone")
	keys, err := e.store("gone").List(ctx, "")
	must(t, err)
	savepoints := 0
	for _, key := range keys {
		if !strings.HasPrefix(key, "savepoints/") {
			t.Errorf("Delete: %s is left", key)
		}
		if strings.HasSuffix(key, ".json") && strings.Contains(key, "/metadata/") {
			savepoints++
		}
	}
	if savepoints != 2 {
		t.Errorf("Delete: %d savepoints kept, want 2", savepoints)
	}
	if !strings.Contains(e.events("gone"), "CheckpointsDeleted") {
		t.Errorf("events:\n%s", e.events("gone"))
	}
}
