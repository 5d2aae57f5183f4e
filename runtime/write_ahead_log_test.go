package runtime

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// feedReceiver stores what the test sends it: blocks with StoreBlock
// (reporting each result), single records with Store.
type feedReceiver struct {
	blocks  chan []string
	records chan string
	stored  chan error
	stop    chan struct{}
	done    chan struct{}
}

func (r *feedReceiver) Start(store Store[string]) error {
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(r.done)
		for {
			select {
			case b := <-r.blocks:
				r.stored <- store.StoreBlock(context.Background(), b)
			case rec := <-r.records:
				store.Store(rec)
				r.stored <- nil
			case <-r.stop:
				return
			}
		}
	}()
	return nil
}

func (r *feedReceiver) Stop() error {
	close(r.stop)
	<-r.done
	return nil
}

// With a write-ahead log, what a receiver stored survives the driver: the
// batches a recovered driver recomputes read their blocks back from the
// log, and the blocks that no batch had read yet (stored as a block, or
// one by one) go into its first batch. The log keeps only what a recovery
// can still need.
func TestAWriteAheadLogKeepsReceivedDataAcrossARecovery(t *testing.T) {
	feed := &feedReceiver{blocks: make(chan []string), records: make(chan string), stored: make(chan error)}
	newReceiver := Func("test.feedReceiver", func() Receiver[string] { return feed })
	store, _ := checkpoint.NewDir(t.TempDir())
	clock := NewManualClock(time.UnixMilli(0))
	got := newCommittedOutputs()
	start := func() *Context {
		c, err := NewContext(Config{BatchInterval: testInterval, Workers: 2, Clock: clock, Logger: quietLogger(),
			Checkpoint: &CheckpointConfig{Store: store, Interval: 2 * testInterval}})
		if err != nil {
			t.Fatal(err)
		}
		words := FlatMap(ReceiverStream(c, newReceiver, ReceiverOptions{WriteAheadLog: true}), splitWords).Named("words")
		sinkInto(words, got)
		sinkInto(UpdateStateByKey(Map(words, pairOne), sumState, 2).Named("totals"), got)
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return c
	}
	send := func(block ...string) {
		t.Helper()
		feed.blocks <- block
		if err := <-feed.stored; err != nil {
			t.Fatalf("StoreBlock: %v", err)
		}
	}

	first := start()
	send("a b")
	commitNext(t, first, clock) // 1000
	send("c")
	commitNext(t, first, clock) // 2000, and a data checkpoint
	send("d")
	commitNext(t, first, clock) // 3000
	send("e")
	feed.records <- "f"
	<-feed.stored
	time.Sleep(3 * logBlockInterval) // the record stored one by one is logged
	_ = first.Stop(false)

	second := start()
	if st, _ := second.Checkpoints(); !strings.Contains(st.RecoveredFrom, "0000000000003000") {
		t.Fatalf("recovered from %q, want the metadata of batch 3s", st.RecoveredFrom)
	}
	commitNext(t, second, clock) // 4000: recomputes 3000 from the log, then e and f
	_ = second.Stop(false)

	want := map[string][]string{
		"words@1000": {"a", "b"}, "words@2000": {"c"}, "words@3000": {"d"}, "words@4000": {"e", "f"},
		"totals@1000": {"(a,1)", "(b,1)"},
		"totals@2000": {"(a,1)", "(b,1)", "(c,1)"},
		"totals@3000": {"(a,1)", "(b,1)", "(c,1)", "(d,1)"},
		"totals@4000": {"(a,1)", "(b,1)", "(c,1)", "(d,1)", "(e,1)", "(f,1)"},
	}
	if snap := got.snapshot(); !reflect.DeepEqual(snap, want) {
		t.Fatalf("committed:\n%s", diffOutputs(snap, want))
	}
	// The data checkpoints at 2s and 4s are kept: the blocks of batches
	// 1s and 2s are gone from the log, those of 3s and 4s stay.
	keys, _ := store.List(context.Background(), walDir)
	if len(keys) != 3 {
		t.Fatalf("the log holds %d blocks, want 3 (d, e, f): %v", len(keys), keys)
	}
}

// A logged source's plans and positions come back from checkpoints: any
// bytes give an input over keys in the stream's log, or an error.
func FuzzLoggedPlan(f *testing.F) {
	f.Add([]byte(`["wal/s/0000000000001000-0000000001-abc"]`), []byte(`{"assigned":{"wal/s/x":1000}}`))
	f.Add([]byte(`["../escape"]`), []byte(`{"assigned":null}`))
	f.Add([]byte(`{`), []byte(`[]`))
	store, _ := checkpoint.NewDir(f.TempDir())
	f.Fuzz(func(t *testing.T, plan, position []byte) {
		rs := newReceiverSource[string](nil, 1, quietLogger())
		wal := &writeAheadLog{stream: "s", epoch: 2, store: store, log: quietLogger()}
		rs.wal = wal
		src := &loggedReceiver[string]{Source: rs, wal: wal, recover: rs.takeRecovered}
		if in, err := src.DecodeInput(plan); err == nil {
			for _, k := range in.(walKeyed).walKeys() {
				if !strings.HasPrefix(k, "wal/s/") {
					t.Fatalf("plan %q decoded to key %q outside the log", plan, k)
				}
			}
		}
		_ = src.Restore(position)
	})
}
