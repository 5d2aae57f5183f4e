package runtime

import (
	"reflect"
	"testing"
)

func TestUnion(t *testing.T) {
	h := newHarness(t, Config{})
	a, b := NewQueue([]int{1, 2}, []int{3}), NewQueue([]int{10}, []int{}, []int{30})
	a.Close()
	b.Close()
	col := collect_(QueueStream(h.c, a).Union(QueueStream(h.c, b)))
	h.start()
	h.step(3)
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]int{{1, 2, 10}, {3}, {30}} {
		if got := col.at(batchTime(i + 1)); !reflect.DeepEqual(got, want) {
			t.Errorf("batch %d: got %v, want %v", i+1, got, want)
		}
	}
}

func TestUnionRejectsDifferentSlides(t *testing.T) {
	h := newHarness(t, Config{})
	s := QueueStream(h.c, NewQueue[int]())
	s.Union(s.Window(2*testInterval, 2*testInterval)).Print()
	if err := h.c.Err(); err == nil {
		t.Fatal("union of a stream and its 2s-sliding window was accepted")
	}
}
