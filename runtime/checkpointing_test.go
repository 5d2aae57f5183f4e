package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// committedOutputs is an idempotent sink: each batch's records, sorted, by
// batch time and output name. A batch committed again replaces itself.
type committedOutputs struct {
	mu      sync.Mutex
	batches map[string][]string
}

func newCommittedOutputs() *committedOutputs {
	return &committedOutputs{batches: map[string][]string{}}
}

func sinkInto[T any](s Stream[T], out *committedOutputs) {
	name := s.Name()
	s.ForeachBatch(testFn(func(b Batch[T]) error {
		var recs []string
		for _, p := range b.Partitions {
			for _, r := range p {
				recs = append(recs, fmt.Sprint(r))
			}
		}
		slices.Sort(recs)
		out.mu.Lock()
		out.batches[fmt.Sprintf("%s@%d", name, int64(b.Time))] = recs
		out.mu.Unlock()
		return nil
	}))
}

func (o *committedOutputs) snapshot() map[string][]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.batches)
}

var (
	sumState = Func("test.sumState", func(values []int, state Optional[int]) (int, bool) {
		total := state.OrElse(0)
		for _, v := range values {
			total += v
		}
		return total, true
	})
	sessionCount = Func("test.sessionCount", func(_ Time, key string, v Optional[int], st *State[int]) (Pair[string, int], bool) {
		n := st.Get() + v.OrElse(0)
		st.Update(n)
		return KV(key, n), n%7 == 0
	})
	notZeroes = Func("test.notZeroes", func(kv Pair[string, int]) bool { return kv.Value != 0 })
)

// statefulWordCount is the job the recovery tests run: running totals
// (updateStateByKey), an incremental and a plain windowed count, and
// mapWithState, over a deterministic generator.
func statefulWordCount(c *Context, count int64, out *committedOutputs) Stream[Pair[string, int]] {
	lines := GeneratorStream(c, GeneratorOptions{RecordsPerSecond: 300, RecordSize: 40, Count: count, Seed: 7, Partitions: 3}).Named("lines")
	pairs := Map(FlatMap(lines, splitWords), pairOne).Named("pairs")
	sinkInto(UpdateStateByKey(pairs, sumState, 2).Named("totals"), out)
	sinkInto(ReduceByKeyAndWindowInv(pairs, sumInts, subInts, notZeroes, 4*testInterval, 2*testInterval, 2).Named("windowed"), out)
	sinkInto(pairs.Window(3*testInterval, testInterval).CountByWindow(3*testInterval, testInterval).Named("lineWindow"), out)
	sinkInto(MapWithState(pairs, StateSpec[string, int, int, Pair[string, int]]{Func: sessionCount, Partitions: 2}).Named("sessions").Stream, out)
	return pairs
}

func checkpointedContext(t *testing.T, clock *ManualClock, store checkpoint.Store, log *slog.Logger) *Context {
	t.Helper()
	return checkpointedDriver(t, clock, store, log, nil)
}

// checkpointedDriver returns a checkpointed context; with a cluster, one
// that runs its tasks on the cluster's workers, as a driver does.
func checkpointedDriver(t *testing.T, clock *ManualClock, store checkpoint.Store, log *slog.Logger, ic *inProcessCluster) *Context {
	t.Helper()
	if log == nil {
		log = quietLogger()
		if os.Getenv("CHECKPOINT_TEST_LOG") != "" {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
	}
	cfg := Config{BatchInterval: testInterval, Workers: 2, Clock: clock, Logger: log, Stdout: io.Discard,
		Checkpoint: &CheckpointConfig{Store: store, Interval: 3 * testInterval}}
	var c *Context
	if ic != nil {
		cfg.TaskRunner, cfg.BlockAddress = ic, "driver"
		cfg.FetchBlock = func(ctx context.Context, addr string, id BlockID) ([]byte, error) { return ic.fetch(c)(ctx, addr, id) }
	}
	c, err := NewContext(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clusterDriver returns a checkpointed driver whose tasks run on two
// in-process workers; build builds the same graph in each.
func clusterDriver(t *testing.T, clock *ManualClock, store checkpoint.Store, build func(*Context)) *Context {
	t.Helper()
	ic := &inProcessCluster{workers: map[string]*Context{}}
	driver := checkpointedDriver(t, clock, store, nil, ic)
	for _, name := range []string{"w1", "w2"} {
		w, err := NewContext(Config{BatchInterval: testInterval, Workers: 2, Logger: quietLogger(), Stdout: io.Discard,
			FetchBlock: ic.fetch(driver)})
		if err != nil {
			t.Fatal(err)
		}
		build(w)
		ic.workers[name] = w
	}
	build(driver)
	return driver
}

// runUntilDone advances the clock until the bounded run stops by itself.
func runUntilDone(t *testing.T, c *Context, clock *ManualClock) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		select {
		case <-c.Done():
			if err := c.AwaitTermination(); err != nil {
				t.Fatalf("run failed: %v", err)
			}
			return
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not end")
		}
		if c.Metrics().PendingBatches == 0 {
			clock.Advance(testInterval)
		}
	}
}

// runFailureFree runs a checkpointed job that build makes to its end, on a
// clock and store of its own, with no failure: what its outputs commit is
// what recovered runs must commit.
func runFailureFree(t *testing.T, build func(*Context)) {
	t.Helper()
	clock := NewManualClock(time.UnixMilli(0))
	store, _ := checkpoint.NewDir(t.TempDir())
	c := checkpointedContext(t, clock, store, nil)
	build(c)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	runUntilDone(t, c, clock)
}

func TestRecoveredRunsCommitWhatAFailureFreeRunCommits(t *testing.T) {
	const records = 300 * 24 // 24 batches
	want := newCommittedOutputs()
	runFailureFree(t, func(c *Context) { statefulWordCount(c, records, want) })

	for _, mode := range []string{"local", "cluster"} {
		t.Run(mode, func(t *testing.T) { recoverRepeatedly(t, mode == "cluster", records, want) })
	}
}

// recoverRepeatedly kills the driver at random moments until the run ends,
// and compares what it committed with want.
func recoverRepeatedly(t *testing.T, cluster bool, records int64, want *committedOutputs) {
	lastBatch := Time(records / 300 * testInterval.Milliseconds())
	got := newCommittedOutputs()
	clock := NewManualClock(time.UnixMilli(0))
	store, _ := checkpoint.NewDir(t.TempDir())
	rng := rand.New(rand.NewPCG(1, 2))
	for incarnation := 1; ; incarnation++ {
		if incarnation > 200 {
			t.Fatal("the run did not finish")
		}
		var c *Context
		if cluster {
			// Workers are new with each driver, as executors adopt a new
			// driver with a new worker context.
			c = clusterDriver(t, clock, store, func(c *Context) { statefulWordCount(c, records, got) })
		} else {
			c = checkpointedContext(t, clock, store, nil)
			statefulWordCount(c, records, got)
		}
		if err := c.Start(context.Background()); err != nil {
			t.Fatalf("incarnation %d: %v", incarnation, err)
		}
		// Cut a few batches, let at least one commit, and kill the driver
		// while others may still run.
		before := c.Metrics().LastCompleted
		for range rng.IntN(4) + 1 {
			clock.Advance(testInterval)
		}
		for deadline := time.Now().Add(10 * time.Second); c.Metrics().LastCompleted == before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) || isDone(c) {
				t.Fatalf("incarnation %d committed nothing", incarnation)
			}
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		select {
		case <-c.Done():
			if err := c.AwaitTermination(); err != nil {
				t.Fatalf("incarnation %d: %v", incarnation, err)
			}
			if !reflect.DeepEqual(got.snapshot(), want.snapshot()) {
				t.Fatalf("after %d incarnations the outputs differ from a failure-free run:\n%s", incarnation, diffOutputs(got.snapshot(), want.snapshot()))
			}
			return
		default:
		}
		_ = c.Stop(false)
		if c.Metrics().LastCompleted == lastBatch {
			if !reflect.DeepEqual(got.snapshot(), want.snapshot()) {
				t.Fatalf("after %d incarnations the outputs differ from a failure-free run:\n%s", incarnation, diffOutputs(got.snapshot(), want.snapshot()))
			}
			return
		}
	}
}

func diffOutputs(got, want map[string][]string) string {
	var b strings.Builder
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	n := 0
	for _, k := range sorted {
		if !reflect.DeepEqual(got[k], want[k]) && n < 10 {
			n++
			fmt.Fprintf(&b, "%s: got %d records %.200v\n   want %d records %.200v\n", k, len(got[k]), got[k], len(want[k]), want[k])
		}
	}
	return b.String()
}

func isDone(c *Context) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// runCheckpointed runs n batches of a checkpointed word count and stops the
// context abruptly.
func runCheckpointed(t *testing.T, clock *ManualClock, store checkpoint.Store, n int, build func(*Context)) *Context {
	t.Helper()
	c := checkpointedContext(t, clock, store, nil)
	build(c)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// One batch at a time, each data checkpoint finished before the next
	// batch: which checkpoint refers to which is then certain.
	plannedThrough := func() Time {
		c.planMu.Lock()
		defer c.planMu.Unlock()
		return c.plannedThrough
	}
	for deadline := time.Now().Add(10 * time.Second); c.Metrics().PendingBatches > 0 || c.Metrics().LastCompleted < plannedThrough(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) || isDone(c) {
			t.Fatalf("the recovered batches did not commit: %v", c.AwaitTermination())
		}
	}
	for range n {
		commitNext(t, c, clock)
	}
	_ = c.Stop(false)
	return c
}

// commitNext advances the clock one batch, waits until that batch commits,
// and then for the checkpoints it started: which checkpoint refers to which
// batch is then certain.
func commitNext(t *testing.T, c *Context, clock *ManualClock) {
	t.Helper()
	clock.Advance(testInterval)
	want := TimeOf(clock.Now())
	for deadline := time.Now().Add(10 * time.Second); c.Metrics().LastCompleted < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) || isDone(c) {
			t.Fatalf("committed through %s, want %s (%v)", c.Metrics().LastCompleted, want, c.AwaitTermination())
		}
	}
	if c.ckpt != nil {
		c.ckpt.pending.Wait()
	}
}

func newestKey(t *testing.T, store checkpoint.Store, prefix string) string {
	t.Helper()
	keys, err := store.List(context.Background(), prefix)
	if err != nil || len(keys) == 0 {
		t.Fatalf("listing %s: %v %v", prefix, keys, err)
	}
	return keys[len(keys)-1]
}

func truncateObject(t *testing.T, dir, key string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(key))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestACorruptLatestCheckpointFallsBackToThePreviousOne(t *testing.T) {
	dir := t.TempDir()
	store, _ := checkpoint.NewDir(dir)
	clock := NewManualClock(time.UnixMilli(0))
	build := func(c *Context) { statefulWordCount(c, 0, newCommittedOutputs()) }
	runCheckpointed(t, clock, store, 7, build) // data checkpoints at 3s and 6s

	// A truncated newest metadata checkpoint: the one before it is used.
	bad := newestKey(t, store, "metadata/")
	truncateObject(t, dir, bad)
	c := runCheckpointed(t, clock, store, 1, build)
	st, _ := c.Checkpoints()
	if len(st.Skipped) != 1 || !strings.HasPrefix(st.Skipped[0], bad) || st.RecoveredFrom == "" || st.RecoveredFrom == bad {
		t.Fatalf("status after a truncated metadata checkpoint: %+v", st)
	}

	// A truncated object of the newest data checkpoint: recovery goes back
	// to a metadata checkpoint that refers to the data checkpoint before.
	newest, _ := parseMetadataKey(newestKey(t, store, "metadata/"))
	keys, _ := store.List(context.Background(), dataDir+newest.data+"/")
	if len(keys) < 2 {
		t.Fatalf("the newest metadata checkpoint %s refers to data with objects %v", newest.key, keys)
	}
	truncateObject(t, dir, slices.DeleteFunc(keys, func(k string) bool { return strings.HasSuffix(k, dataManifestName) })[0])
	c = runCheckpointed(t, clock, store, 1, build)
	st, _ = c.Checkpoints()
	if from, _ := parseMetadataKey(st.RecoveredFrom); len(st.Skipped) == 0 || !strings.Contains(st.Skipped[0], "is corrupt") || from.data == newest.data {
		t.Fatalf("status after a truncated data object: %+v", st)
	}

	// Nothing readable: the driver refuses to start from empty...
	keys, _ = store.List(context.Background(), "metadata/")
	for _, k := range keys {
		truncateObject(t, dir, k)
	}
	c = checkpointedContext(t, clock, store, nil)
	build(c)
	err := c.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot resume") {
		t.Fatalf("Start with no readable checkpoint: %v", err)
	}
	// ...unless the user asks for it.
	c, err = NewContext(Config{BatchInterval: testInterval, Workers: 2, Clock: clock, Logger: quietLogger(),
		Checkpoint: &CheckpointConfig{Store: store, Discard: true}})
	if err != nil {
		t.Fatal(err)
	}
	build(c)
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("Start discarding the checkpoints: %v", err)
	}
	_ = c.Stop(false)
}

// unconditional is a store without conditional writes, as some
// S3-compatible servers are: drivers fall back to epoch-scoped names.
type unconditional struct{ checkpoint.Store }

func (unconditional) Create(context.Context, string, []byte) error {
	return checkpoint.ErrConditionalUnsupported
}

func TestAReplacedDriverCannotCommit(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(checkpoint.Store) checkpoint.Store
	}{
		{"conditional writes", func(s checkpoint.Store) checkpoint.Store { return s }},
		{"epoch-scoped names", func(s checkpoint.Store) checkpoint.Store { return unconditional{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := checkpoint.NewDir(t.TempDir())
			store := tc.wrap(d)
			clock := NewManualClock(time.UnixMilli(0))
			oldOut, newOut := newCommittedOutputs(), newCommittedOutputs()
			old := checkpointedContext(t, clock, store, nil)
			statefulWordCount(old, 0, oldOut)
			if err := old.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer old.Stop(false)
			clock.Advance(testInterval)
			for old.Metrics().LastCompleted == 0 {
				time.Sleep(time.Millisecond)
			}
			committedBefore := len(oldOut.snapshot())

			// The replacement starts while the old driver still runs.
			replacement := checkpointedContext(t, clock, store, nil)
			statefulWordCount(replacement, 0, newOut)
			if err := replacement.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer replacement.Stop(false)
			clock.Advance(testInterval)
			select {
			case <-old.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the replaced driver is still running")
			}
			if err := old.AwaitTermination(); !errors.Is(err, ErrFenced) {
				t.Fatalf("the replaced driver ended with %v, want ErrFenced", err)
			}
			if n := len(oldOut.snapshot()); n != committedBefore {
				t.Fatalf("the replaced driver committed %d more outputs", n-committedBefore)
			}
			if st, _ := old.Checkpoints(); !st.Fenced {
				t.Fatalf("status of the replaced driver: %+v", st)
			}
			for replacement.Metrics().LastCompleted < 2000 {
				time.Sleep(time.Millisecond)
			}
			if st, _ := replacement.Checkpoints(); st.Epoch != 2 || st.Fenced {
				t.Fatalf("status of the replacement: %+v", st)
			}
		})
	}
}

func TestAChangedJobRestoresStateByStreamName(t *testing.T) {
	store, _ := checkpoint.NewDir(t.TempDir())
	clock := NewManualClock(time.UnixMilli(0))
	runCheckpointed(t, clock, store, 4, func(c *Context) { statefulWordCount(c, 0, newCommittedOutputs()) })

	// Compatible: the same stateful streams, a stateless stream and an
	// output added. Totals continue from the checkpoint.
	totals := newCommittedOutputs()
	c := runCheckpointed(t, clock, store, 2, func(c *Context) {
		pairs := statefulWordCount(c, 0, newCommittedOutputs())
		sinkInto(pairs.Filter(Func("test.isThe", func(kv Pair[string, int]) bool { return kv.Key == "the" })).Named("thes"), totals)
	})
	if st, _ := c.Checkpoints(); st.RecoveredFrom == "" {
		t.Fatalf("the compatible job did not recover: %+v", st)
	}

	// Incompatible: the state type of "totals" changed.
	c = checkpointedContext(t, clock, store, nil)
	lines := GeneratorStream(c, GeneratorOptions{RecordsPerSecond: 300, RecordSize: 40, Seed: 7, Partitions: 3}).Named("lines")
	pairs := Map(FlatMap(lines, splitWords), pairOne).Named("pairs")
	UpdateStateByKey(pairs, Func("test.sumState64", func(values []int, state Optional[int64]) (int64, bool) {
		return state.OrElse(0) + int64(len(values)), true
	}), 2).Named("totals").PrintN(1)
	err := c.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), `stream "totals"`) || !strings.Contains(err.Error(), "int64") {
		t.Fatalf("Start with a changed state type: %v", err)
	}

}

// A job that resumes with more, or fewer, state partitions finds each
// key's state in the partition its key hashes to: its outputs are those of
// a run that never changed, for updateStateByKey, an incremental window and
// mapWithState.
func TestStateIsRepartitionedOnResume(t *testing.T) {
	const records = 300 * 12
	want := newCommittedOutputs()
	build := func(parts int, out *committedOutputs) func(*Context) {
		return func(c *Context) {
			lines := GeneratorStream(c, GeneratorOptions{RecordsPerSecond: 300, RecordSize: 40, Count: records, Seed: 7, Partitions: 3}).Named("lines")
			pairs := Map(FlatMap(lines, splitWords), pairOne).Named("pairs")
			sinkInto(UpdateStateByKey(pairs, sumState, parts).Named("totals"), out)
			sinkInto(ReduceByKeyAndWindowInv(pairs, sumInts, subInts, notZeroes, 4*testInterval, 2*testInterval, parts).Named("windowed"), out)
			sinkInto(MapWithState(pairs, StateSpec[string, int, int, Pair[string, int]]{Func: sessionCount, Partitions: parts}).Named("sessions").Stream, out)
		}
	}
	runFailureFree(t, build(2, want))
	for _, parts := range []int{5, 1} {
		t.Run(fmt.Sprintf("2 to %d", parts), func(t *testing.T) {
			got := newCommittedOutputs()
			store, _ := checkpoint.NewDir(t.TempDir())
			clock := NewManualClock(time.UnixMilli(0))
			runCheckpointed(t, clock, store, 7, build(2, got)) // data checkpoints at 3s and 6s
			c := checkpointedContext(t, clock, store, nil)
			build(parts, got)(c)
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st, _ := c.Checkpoints(); !strings.Contains(st.RecoveredFrom, "0000000000006000") {
				t.Fatalf("recovered from %q, want a data checkpoint at 6s", st.RecoveredFrom)
			}
			runUntilDone(t, c, clock)
			if !reflect.DeepEqual(got.snapshot(), want.snapshot()) {
				t.Fatalf("outputs differ from an unchanged run:\n%s", diffOutputs(got.snapshot(), want.snapshot()))
			}
		})
	}
}

// A checkpoint read back is untrusted input: whatever its bytes, recovery
// gets a checkpoint it can use or an error, never a crash.
func FuzzMetadataCheckpoint(f *testing.F) {
	store, _ := checkpoint.NewDir(f.TempDir())
	clock := NewManualClock(time.UnixMilli(0))
	c, err := NewContext(Config{BatchInterval: testInterval, Clock: clock, Logger: quietLogger(),
		Checkpoint: &CheckpointConfig{Store: store}})
	if err != nil {
		f.Fatal(err)
	}
	k := c.ckpt
	f.Add([]byte(`{"format":1,"epoch":1,"graph":{"batchInterval":1000000000,"nodes":[]},"zeroTime":0,"committed":1000,"plannedThrough":2000,"sources":[{"stream":"lines","op":"generator","replayable":true,"position":"eyJuZXh0IjozfQ==","plans":[{"time":2000,"input":"eyJmcm9tIjoxLCJ0byI6M30="}]}],"writtenAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`{"format":1,"graph":{"batchInterval":1},"committed":5,"plannedThrough":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := store.Put(context.Background(), "metadata/x.json", data); err != nil {
			t.Fatal(err)
		}
		md, err := k.readMetadata(context.Background(), k.store, "metadata/x.json")
		if err != nil {
			return
		}
		if md.Format != checkpointFormat || md.Graph.BatchInterval <= 0 || md.PlannedThrough < md.Committed {
			t.Fatalf("accepted an inconsistent checkpoint: %+v", md)
		}
	})
}
