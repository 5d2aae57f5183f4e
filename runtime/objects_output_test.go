package runtime

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// markedBatches reads an object output as a reader that follows commit
// markers does: each marked batch's records, sorted, by batch directory.
func markedBatches(t *testing.T, store checkpoint.Store) map[string][]string {
	t.Helper()
	batches, err := ReadCommitted(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, b := range batches {
		slices.Sort(b.Records)
		out[BatchDirName(b.Time)] = b.Records
	}
	return out
}

func openStore(name string, store checkpoint.Store) Fn[func() (checkpoint.Store, error)] {
	return Func(name, func() (checkpoint.Store, error) { return store, nil })
}

// runningTotals is a word count's running totals written to an object
// output.
func runningTotals(c *Context, out checkpoint.Store, count int64) {
	lines := GeneratorStream(c, GeneratorOptions{RecordsPerSecond: 300, RecordSize: 40, Count: count, Seed: 5, Partitions: 3}).Named("lines")
	totals := UpdateStateByKey(Map(FlatMap(lines, splitWords), pairOne), sumState, 2).Named("totals")
	totals.SaveAsJSONObjects(openStore("test.totalsOut", out))
}

// A recovered driver that falls back to an older checkpoint recomputes
// batches whose outputs were committed, as lineage for the state: their
// objects are not written again, yet the chain of states they hold is
// computed in order (on the workers, in a cluster), and the outputs end as
// a failure-free run's.
func TestAFallbackRecoveryRecomputesCommittedBatches(t *testing.T) {
	for _, mode := range []string{"local", "cluster"} {
		t.Run(mode, func(t *testing.T) { fallBackAndRecompute(t, mode == "cluster") })
	}
}

func fallBackAndRecompute(t *testing.T, cluster bool) {
	const records = 300 * 14
	wantStore, _ := checkpoint.NewDir(t.TempDir())
	{
		clock := NewManualClock(time.UnixMilli(0))
		ckpt, _ := checkpoint.NewDir(t.TempDir())
		c := checkpointedContext(t, clock, ckpt, nil)
		runningTotals(c, wantStore, records)
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		runUntilDone(t, c, clock)
	}

	gotStore, _ := checkpoint.NewDir(t.TempDir())
	ckptDir := t.TempDir()
	ckpt, _ := checkpoint.NewDir(ckptDir)
	clock := NewManualClock(time.UnixMilli(0))
	build := func(c *Context) { runningTotals(c, gotStore, records) }
	newDriver := func() *Context {
		if cluster {
			return clusterDriver(t, clock, ckpt, build)
		}
		c := checkpointedContext(t, clock, ckpt, nil)
		build(c)
		return c
	}
	first := newDriver()
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 8 { // data checkpoints at 3s and 6s
		commitNext(t, first, clock)
	}
	_ = first.Stop(false)
	// Lose the metadata checkpoints after 4s: the next driver resumes from
	// the data checkpoint at 3s, though outputs are committed through 8s.
	keys, _ := ckpt.List(context.Background(), metadataDir)
	for _, key := range keys {
		if m, ok := parseMetadataKey(key); ok && m.time > 4*Time(testInterval.Milliseconds()) {
			if err := ckpt.Delete(context.Background(), key); err != nil {
				t.Fatal(err)
			}
		}
	}

	second := newDriver()
	if err := second.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := second.Checkpoints(); !strings.Contains(st.RecoveredFrom, "0000000000004000") {
		t.Fatalf("recovered from %q, want the metadata of batch 4s", st.RecoveredFrom)
	}
	runUntilDone(t, second, clock)
	got, want := markedBatches(t, gotStore), markedBatches(t, wantStore)
	if len(want) != 14 || !reflect.DeepEqual(got, want) {
		t.Fatalf("committed outputs differ from a failure-free run (%d and %d batches):\n%s", len(got), len(want), diffOutputs(got, want))
	}
}

// A reader sees only marked batches, in time order, and a marker that
// promises what its parts do not hold is an error naming the batch.
func TestReadCommitted(t *testing.T) {
	ctx := context.Background()
	store, _ := checkpoint.NewDir(t.TempDir())
	put := func(key, body string) {
		if err := store.Put(ctx, key, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	put("2000/part-00000.jsonl", "\"c\"\n")
	put("2000/_SUCCESS", `{"batchTime":2000,"parts":["2000/part-00000.jsonl"],"records":1}`)
	put("1000/part-00000.jsonl", "\"a\"\n")
	put("1000/part-00001.jsonl", "\"b\"\n")
	put("1000/_SUCCESS", `{"batchTime":1000,"parts":["1000/part-00000.jsonl","1000/part-00001.jsonl"],"records":2}`)
	put("3000/part-00000.jsonl", "\"unmarked\"\n")

	got, err := ReadCommitted(ctx, store)
	want := []CommittedBatch{{Time: 1000, Records: []string{`"a"`, `"b"`}}, {Time: 2000, Records: []string{`"c"`}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}

	put("4000/_SUCCESS", `{"batchTime":4000,"parts":["4000/part-00000.jsonl"],"records":1}`)
	if _, err := ReadCommitted(ctx, store); err == nil || !strings.Contains(err.Error(), "batch 4000 ms") {
		t.Fatalf("a marker listing a missing part: %v", err)
	}
	put("4000/part-00000.jsonl", "\"d\"\n\"e\"\n")
	if _, err := ReadCommitted(ctx, store); err == nil || !strings.Contains(err.Error(), "batch 4000 ms: 2 records in its parts, its commit marker says 1") {
		t.Fatalf("a marker with the wrong count: %v", err)
	}
}
