package runtime

import (
	"fmt"
	"iter"
	"reflect"
	"sync"
	"testing"
)

// Outputs commit in batch order, and within a batch in definition order.
func TestOutputsCommitInOrder(t *testing.T) {
	h := newHarness(t, Config{MaxConcurrentBatches: 3})
	q := NewQueue([]int{1}, []int{2}, []int{3})
	q.Close()
	var mu sync.Mutex
	var log []string
	record := func(name string) Fn[func(Batch[int]) error] {
		return testFn(func(b Batch[int]) error {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, fmt.Sprintf("%s@%d", name, b.Time))
			return nil
		})
	}
	s := QueueStream(h.c, q)
	s.ForeachBatch(record("first"))
	Map(s.Count(), testFn(func(n int64) int { return int(n) })).ForeachBatch(record("second"))
	s.ForeachPartition(testFn(func(t Time, p int, records iter.Seq[int]) error {
		for range records {
		}
		mu.Lock()
		defer mu.Unlock()
		log = append(log, fmt.Sprintf("third@%d", t))
		return nil
	}))
	h.start()
	h.clock.Advance(3 * testInterval) // cut three batches at once: they compute concurrently
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatal(err)
	}
	want := []string{"first@1000", "second@1000", "third@1000", "first@2000", "second@2000", "third@2000", "first@3000", "second@3000", "third@3000"}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("commit order %v, want %v", log, want)
	}
}

func TestForeachPartitionSeesEveryPartition(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue[int]()
	q.PushPartitions([]int{1, 2}, []int{3}, []int{})
	q.Close()
	var mu sync.Mutex
	got := map[int][]int{}
	QueueStream(h.c, q).ForeachPartition(testFn(func(_ Time, p int, records iter.Seq[int]) error {
		var rs []int
		for r := range records {
			rs = append(rs, r)
		}
		mu.Lock()
		got[p] = rs
		mu.Unlock()
		return nil
	}))
	h.start()
	h.step(1)
	if want := map[int][]int{0: {1, 2}, 1: {3}, 2: nil}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
