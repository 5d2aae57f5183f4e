package runtime

import (
	"reflect"
	"strings"
	"testing"
)

var (
	splitWords = Func("test.splitWords", strings.Fields)
	pairOne    = Func("test.pairOne", func(w string) Pair[string, int] { return KV(w, 1) })
	sumInts    = Sum[int]()
)

func TestWordCountOnQueue(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue([]string{"a b a", "c"}, []string{}, []string{"b b"})
	q.Close()
	lines := QueueStream(h.c, q)
	counts := ReduceByKey(Map(FlatMap(lines, splitWords), pairOne), sumInts, 0)
	col := collect_(counts)
	h.start()
	h.step(3)
	if err := h.c.AwaitTermination(); err != nil {
		t.Fatalf("bounded run ended with %v", err)
	}
	want := []map[string]int{{"a": 2, "b": 1, "c": 1}, {}, {"b": 2}}
	for i, w := range want {
		if got := asMap(t, col.at(batchTime(i+1))); !reflect.DeepEqual(got, w) && !(len(got) == 0 && len(w) == 0) {
			t.Errorf("batch %d: got %v, want %v", i+1, got, w)
		}
	}
}
