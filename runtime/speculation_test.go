package runtime

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// slowRunner sends every other task to a worker that stalls for two
// seconds; speculative copies go to the fast worker.
type slowRunner struct {
	fast, slow *Context
	n          atomic.Int64
	copies     atomic.Int64
}

func (r *slowRunner) RunTask(ctx context.Context, spec TaskSpec) (string, error) {
	if spec.Speculative {
		r.copies.Add(1)
		return "fast", r.fast.RunTask(ctx, spec)
	}
	if r.n.Add(1)%2 == 0 {
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return "slow", r.slow.RunTask(ctx, spec)
	}
	return "fast", r.fast.RunTask(ctx, spec)
}

func TestSpeculationBacksUpStragglers(t *testing.T) {
	r := &slowRunner{}
	var driver *Context
	fetch := func(_ context.Context, addr string, id BlockID) ([]byte, error) {
		switch addr {
		case "fast":
			return r.fast.EncodedBlock(id)
		case "slow":
			return r.slow.EncodedBlock(id)
		}
		return driver.EncodedBlock(id)
	}
	h := newHarness(t, Config{Parallelism: 4, TaskRunner: r, BlockAddress: "driver", FetchBlock: fetch})
	driver = h.c
	q := NewQueue[Pair[string, int]]()
	q.PushPartitions(
		[]Pair[string, int]{KV("a", 1)}, []Pair[string, int]{KV("b", 1)},
		[]Pair[string, int]{KV("a", 1)}, []Pair[string, int]{KV("c", 1)})
	q.Close()
	col := collect_(ReduceByKey(QueueStream(h.c, q), sumInts, 4))
	for _, w := range []**Context{&r.fast, &r.slow} {
		c, err := NewContext(Config{BatchInterval: testInterval, Parallelism: 4, Logger: quietLogger(), FetchBlock: fetch})
		if err != nil {
			t.Fatal(err)
		}
		// Rebuilding a queue-fed graph needs the queue: build it by hand.
		wq := NewQueue[Pair[string, int]]()
		ReduceByKey(QueueStream(c, wq), sumInts, 4).ForeachBatch(testFn(func(Batch[Pair[string, int]]) error { return nil }))
		*w = c
	}
	runToEnd(t, h, 1)

	if got := asMap(t, col.at(batchTime(1))); !reflect.DeepEqual(got, map[string]int{"a": 2, "b": 1, "c": 1}) {
		t.Fatalf("counts %v", got)
	}
	if r.copies.Load() == 0 || h.c.speculated.Load() == 0 {
		t.Fatal("no speculative copy was launched for the stalled tasks")
	}
	// The stalled copies take 2 s; the batch must not wait for them.
	if took := h.c.Metrics().Batches[0].ProcessingTime; took > time.Second {
		t.Fatalf("the batch took %s: speculation did not route around the straggler", took)
	}
}

func TestStragglerRule(t *testing.T) {
	now := time.Now()
	tasks := []int{0, 1, 2, 3}
	started := map[int]time.Time{0: now.Add(-time.Second), 1: now.Add(-time.Second), 2: now.Add(-130 * time.Millisecond), 3: now.Add(-150 * time.Millisecond)}
	finished := map[int]bool{0: true, 1: true}
	durations := []time.Duration{100 * time.Millisecond, 100 * time.Millisecond}
	// 1.4 x the 100 ms median is 140 ms: task 3 has run 150 ms, task 2 130 ms.
	if got := stragglers(tasks, finished, map[int]bool{}, started, durations, now); !reflect.DeepEqual(got, []int{3}) {
		t.Fatalf("stragglers %v, want [3]", got)
	}
	// Not before half the stage has finished.
	if got := stragglers(tasks, map[int]bool{0: true}, map[int]bool{}, started, durations[:1], now); got != nil {
		t.Fatalf("stragglers %v with one task of four finished", got)
	}
	// Not twice.
	if got := stragglers(tasks, finished, map[int]bool{3: true}, started, durations, now); got != nil {
		t.Fatalf("stragglers %v after the copy was launched", got)
	}
}
