package runtime

import (
	"iter"
	"reflect"
	"testing"
)

// partitionSizes emits one record per partition: how many records it had.
var partitionSizes = Func("test.partitionSizes", func(in iter.Seq[int]) iter.Seq[int] {
	return func(yield func(int) bool) {
		n := 0
		for range in {
			n++
		}
		yield(n)
	}
})

func TestMapPartitions(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue[int]()
	q.PushPartitions([]int{1, 2, 3}, []int{4})
	q.PushPartitions()
	q.Close()
	col := collect_(MapPartitions(QueueStream(h.c, q), partitionSizes))
	h.start()
	h.step(2)
	if got := col.at(batchTime(1)); !reflect.DeepEqual(got, []int{3, 1}) {
		t.Errorf("batch 1: got %v, want [3 1] (one record per partition, in partition order)", got)
	}
	if got := col.at(batchTime(2)); len(got) != 0 {
		t.Errorf("batch 2 has no partitions, got %v", got)
	}
}
