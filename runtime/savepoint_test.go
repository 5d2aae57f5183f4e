package runtime

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// outputsAfter keeps the batches after t of outputs.
func outputsAfter(outputs map[string][]string, t Time) map[string][]string {
	out := map[string][]string{}
	for key, recs := range outputs {
		_, at, _ := strings.Cut(key, "@")
		if bt, _ := strconv.ParseInt(at, 10, 64); Time(bt) > t {
			out[key] = recs
		}
	}
	return out
}

// A savepoint of a running job, restored into another job's location,
// continues exactly where the savepoint was taken: the batches after it are
// a failure-free run's. A later restart with the same restore resumes from
// the job's own checkpoints rather than going back to the savepoint.
func TestASavepointRestoresIntoAnotherLocationOnce(t *testing.T) {
	const records = 300 * 14
	want := newCommittedOutputs()
	runFailureFree(t, func(c *Context) { statefulWordCount(c, records, want) })

	clock := NewManualClock(time.UnixMilli(0))
	source, _ := checkpoint.NewDir(t.TempDir())
	c := checkpointedContext(t, clock, source, nil)
	statefulWordCount(c, records, newCommittedOutputs())
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 4 { // not at a data checkpoint's interval: the savepoint takes its own
		commitNext(t, c, clock)
	}
	if _, err := c.Savepoint(context.Background(), "../escape"); err == nil {
		t.Fatal("a savepoint name with a slash was accepted")
	}
	taken := make(chan SavepointInfo, 1)
	go func() {
		info, err := c.Savepoint(context.Background(), "before-upgrade")
		if err != nil {
			t.Error(err)
		}
		taken <- info
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		c.ckpt.mu.Lock()
		asked := len(c.ckpt.savepoints) > 0
		c.ckpt.mu.Unlock()
		if asked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the savepoint was never requested")
		}
	}
	commitNext(t, c, clock)
	info := <-taken
	if info.BatchTime != c.Metrics().LastCompleted || !strings.HasSuffix(info.Location, "savepoints/before-upgrade") {
		t.Fatalf("savepoint %+v, after batch %s", info, c.Metrics().LastCompleted)
	}
	commitNext(t, c, clock) // the job carries on past its savepoint
	_ = c.Stop(false)

	target, _ := checkpoint.NewDir(t.TempDir())
	restore := &Restore{ID: "from-before-upgrade", From: checkpoint.Sub(source, "savepoints/before-upgrade")}
	got := newCommittedOutputs()
	c = checkpointedContext(t, clock, target, nil)
	c.ckpt.cfg.Restore = restore
	statefulWordCount(c, records, got)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Checkpoints()
	if !strings.Contains(st.RecoveredFrom, "metadata/") {
		t.Fatalf("the restored job did not recover: %+v", st)
	}
	commitNext(t, c, clock)
	commitNext(t, c, clock)
	last := c.Metrics().LastCompleted
	_ = c.Stop(false)

	// The same restore again: the job resumes from its own newer checkpoint.
	c = checkpointedContext(t, clock, target, nil)
	c.ckpt.cfg.Restore = restore
	statefulWordCount(c, records, got)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Checkpoints(); !strings.Contains(st.RecoveredFrom, "metadata/") || c.ckpt.lineage != restore.ID {
		t.Fatalf("restart after the restore: %+v, lineage %q", st, c.ckpt.lineage)
	}
	if md, err := c.ckpt.readMetadata(context.Background(), target, c.ckpt.status.RecoveredFrom); err != nil || md.Committed < last {
		t.Fatalf("the restart went back to batch %s (committed %s before): %v", md.Committed, last, err)
	}
	runUntilDone(t, c, clock)
	if w, g := outputsAfter(want.snapshot(), info.BatchTime), got.snapshot(); !reflect.DeepEqual(g, w) {
		t.Fatalf("the restored job's outputs differ from a failure-free run's after the savepoint:\n%s", diffOutputs(g, w))
	}
}

// A stop with a savepoint copies the stop's last checkpoint; a restore to
// empty state deletes the job's checkpoints once.
func TestASavepointOnStopAndARestoreToEmpty(t *testing.T) {
	clock := NewManualClock(time.UnixMilli(0))
	store, _ := checkpoint.NewDir(t.TempDir())
	c := checkpointedContext(t, clock, store, nil)
	statefulWordCount(c, 0, newCommittedOutputs())
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		commitNext(t, c, clock)
	}
	if err := c.SavepointOnStop("final"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(true); err != nil {
		t.Fatal(err)
	}
	info, err := c.StopSavepoint()
	if err != nil || info.BatchTime != c.Metrics().LastCompleted {
		t.Fatalf("savepoint on stop: %+v, %v; last batch %s", info, err, c.Metrics().LastCompleted)
	}
	saved := checkpoint.Sub(store, "savepoints/final")
	md, err := c.ckpt.readMetadata(context.Background(), saved, newestKey(t, saved, metadataDir))
	if err != nil || md.Committed != info.BatchTime || md.Data == nil {
		t.Fatalf("the savepoint's metadata: %+v, %v", md, err)
	}
	if _, err := c.ckpt.readData(context.Background(), saved, *md.Data); err != nil {
		t.Fatalf("the savepoint's data checkpoint: %v", err)
	}

	for round := range 2 {
		c = checkpointedContext(t, clock, store, nil)
		c.ckpt.cfg.Restore = &Restore{ID: "empty-1"}
		statefulWordCount(c, 0, newCommittedOutputs())
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		st, _ := c.Checkpoints()
		if (round == 0) != (st.RecoveredFrom == "") {
			t.Fatalf("round %d: recovered from %q", round, st.RecoveredFrom)
		}
		commitNext(t, c, clock)
		commitNext(t, c, clock)
		_ = c.Stop(false)
	}
	if keys, _ := saved.List(context.Background(), metadataDir); len(keys) != 1 {
		t.Fatalf("the savepoint did not survive the restore to empty: %v", keys)
	}
}
