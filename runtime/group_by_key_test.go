package runtime

import (
	"reflect"
	"testing"
)

func TestGroupByKey(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue[Pair[string, int]]()
	// Values of a key keep arrival order across input partitions.
	q.PushPartitions([]Pair[string, int]{KV("a", 1), KV("b", 2)}, []Pair[string, int]{KV("a", 3), KV("a", 4)})
	q.Close()
	col := collect_(GroupByKey(QueueStream(h.c, q), 2))
	h.start()
	h.step(1)
	got := asMap(t, col.at(batchTime(1)))
	want := map[string][]int{"a": {1, 3, 4}, "b": {2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
