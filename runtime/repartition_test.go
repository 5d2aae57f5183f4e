package runtime

import (
	"reflect"
	"slices"
	"testing"
)

func TestRepartition(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue[int]()
	q.PushPartitions([]int{1, 2, 3, 4, 5, 6, 7})
	q.Close()
	var parts [][]int
	QueueStream(h.c, q).Repartition(3).ForeachBatch(testFn(func(b Batch[int]) error {
		parts = b.Partitions
		return nil
	}))
	h.start()
	h.step(1)
	if len(parts) != 3 {
		t.Fatalf("got %d partitions, want 3", len(parts))
	}
	var all []int
	for _, p := range parts {
		if len(p) < 2 || len(p) > 3 {
			t.Errorf("unbalanced partition %v", p)
		}
		all = append(all, p...)
	}
	slices.Sort(all)
	if !reflect.DeepEqual(all, []int{1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("records changed: %v", all)
	}
}

func TestRepartitionRejectsZero(t *testing.T) {
	h := newHarness(t, Config{})
	QueueStream(h.c, NewQueue[int]()).Repartition(0).Print()
	if h.c.Err() == nil {
		t.Fatal("Repartition(0) was accepted")
	}
}
