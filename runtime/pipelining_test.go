package runtime

import (
	"reflect"
	"testing"
	"time"
)

// Batch 2's tasks start while batch 1 is still running: batch 1's only task
// waits until batch 2's task has started, so without timestep pipelining the
// run would never finish. Outputs still commit in batch order.
func TestTimestepPipelining(t *testing.T) {
	h := newHarness(t, Config{Workers: 2, MaxConcurrentBatches: 2})
	batch2Started := make(chan struct{})
	gate := testFn(func(n int) int {
		switch n {
		case 1:
			select {
			case <-batch2Started:
			case <-time.After(10 * time.Second):
				Fail(errInverseUnknownKey) // any error: the test fails below
			}
		case 2:
			close(batch2Started)
		}
		return n
	})
	q := NewQueue([]int{1}, []int{2})
	q.Close()
	col := collect_(Map(QueueStream(h.c, q), gate))
	h.start()
	h.clock.Advance(2 * testInterval)
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatalf("batches did not overlap: %v", err)
	}
	if !reflect.DeepEqual(col.times, []Time{batchTime(1), batchTime(2)}) {
		t.Fatalf("commit order %v", col.times)
	}
}
