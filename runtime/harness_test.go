package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testInterval = time.Second

// harness runs a context on a manual clock, one batch at a time.
type harness struct {
	t         *testing.T
	c         *Context
	clock     *ManualClock
	committed chan Time
}

var fnSeq atomic.Int64

// testFn registers f under a unique name, so tests can close over local
// state and still go through the registry like any graph.
func testFn[F any](f F) Fn[F] {
	return Func(fmt.Sprintf("test.fn.%d", fnSeq.Add(1)), f)
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clock := NewManualClock(time.UnixMilli(0))
	if cfg.BatchInterval == 0 {
		cfg.BatchInterval = testInterval
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	cfg.Clock = clock
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c, err := NewContext(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, c: c, clock: clock, committed: make(chan Time, 1024)}
	c.AddListener(ListenerFunc(func(b BatchInfo) { h.committed <- b.Time }))
	return h
}

func (h *harness) start() {
	h.t.Helper()
	if err := h.c.Start(context.Background()); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	h.t.Cleanup(func() { _ = h.c.Stop(false) })
}

// step advances the clock by n batch intervals and waits until each batch
// has committed.
func (h *harness) step(n int) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		h.clock.Advance(h.c.BatchInterval())
		want := TimeOf(h.clock.Now())
		select {
		case got := <-h.committed:
			if got != want {
				h.t.Fatalf("committed batch %s, want %s", got, want)
			}
		case <-h.c.Done():
			// A bounded run may stop right after its last commit: that
			// commit is then already queued.
			select {
			case got := <-h.committed:
				if got != want {
					h.t.Fatalf("committed batch %s, want %s", got, want)
				}
			default:
				h.t.Fatalf("context stopped before batch %s committed: %v", want, h.c.AwaitTermination())
			}
		case <-time.After(20 * time.Second):
			h.t.Fatalf("batch %s did not commit", want)
		}
	}
}

// collector records every batch of a stream through a foreachBatch output.
type collector[T any] struct {
	mu      sync.Mutex
	batches map[Time][]T
	times   []Time
}

func collect_[T any](s Stream[T]) *collector[T] {
	col := &collector[T]{batches: map[Time][]T{}}
	s.ForeachBatch(testFn(func(b Batch[T]) error {
		col.mu.Lock()
		defer col.mu.Unlock()
		if recs := b.Records(); len(recs) > 0 {
			col.batches[b.Time] = recs
		}
		col.times = append(col.times, b.Time)
		return nil
	}))
	return col
}

func (c *collector[T]) at(t Time) []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batches[t]
}

// batchTime is the time of the i-th batch (1-based) on a harness clock.
func batchTime(i int) Time { return Time(int64(i) * testInterval.Milliseconds()) }

// asMap turns pairs into a map, failing on duplicate keys.
func asMap[K comparable, V any](t *testing.T, pairs []Pair[K, V]) map[K]V {
	t.Helper()
	m := map[K]V{}
	for _, p := range pairs {
		if _, dup := m[p.Key]; dup {
			t.Fatalf("key %v appears twice in %v", p.Key, pairs)
		}
		m[p.Key] = p.Value
	}
	return m
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// runOn runs build over fixed input batches, one queued dataset per batch,
// and returns each batch's output records. The run is bounded, so it also
// checks that the context stops by itself after the last batch.
func runOn[T, U any](t *testing.T, cfg Config, batches [][]T, build func(Stream[T]) Stream[U]) [][]U {
	t.Helper()
	h := newHarness(t, cfg)
	q := NewQueue(batches...)
	q.Close()
	col := collect_(build(QueueStream(h.c, q)))
	h.start()
	h.step(len(batches))
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatalf("run ended with %v", err)
	}
	out := make([][]U, len(batches))
	for i := range batches {
		out[i] = col.at(batchTime(i + 1))
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runOnSource runs a bounded source for n batches and returns each batch.
func runOnSource[T any](t *testing.T, source func(*Context) Stream[T], n int) [][]T {
	t.Helper()
	h := newHarness(t, Config{})
	col := collect_(source(h.c))
	h.start()
	h.step(n)
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatalf("run ended with %v", err)
	}
	out := make([][]T, n)
	for i := range out {
		out[i] = col.at(batchTime(i + 1))
	}
	return out
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
