package runtime

import (
	"context"
	"encoding/json"
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
	ctx := context.Background()
	keys, err := store.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, key := range keys {
		dir, name, _ := strings.Cut(key, "/")
		if name != CommitMarkerName {
			continue
		}
		body, err := store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var m CommitMarker
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		var lines []string
		for _, part := range m.Parts {
			data, err := store.Get(ctx, part)
			if err != nil {
				t.Fatalf("%s lists %s: %v", key, part, err)
			}
			lines = append(lines, strings.Fields(string(data))...)
		}
		if int64(len(lines)) != m.Records {
			t.Fatalf("%s: %d records in its parts, the marker says %d", key, len(lines), m.Records)
		}
		slices.Sort(lines)
		out[dir] = lines
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
