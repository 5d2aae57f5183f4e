package runtime

import (
	"reflect"
	"testing"
)

// joinInputs: left has a (twice) and b; right has a and c.
func joinInputs(h *harness) (Stream[Pair[string, int]], Stream[Pair[string, string]]) {
	l := NewQueue([]Pair[string, int]{KV("a", 1), KV("b", 2), KV("a", 3)})
	r := NewQueue([]Pair[string, string]{KV("a", "x"), KV("c", "z")})
	l.Close()
	r.Close()
	return QueueStream(h.c, l), QueueStream(h.c, r)
}

func TestJoins(t *testing.T) {
	h := newHarness(t, Config{})
	left, right := joinInputs(h)
	inner := collect_(Join(left, right, 3))
	leftOuter := collect_(LeftOuterJoin(left, right, 3))
	rightOuter := collect_(RightOuterJoin(left, right, 3))
	fullOuter := collect_(FullOuterJoin(left, right, 3))
	h.start()
	h.step(1)
	t1 := batchTime(1)

	if got, want := inner.at(t1), []Pair[string, Joined[int, string]]{KV("a", Joined[int, string]{1, "x"}), KV("a", Joined[int, string]{3, "x"})}; !reflect.DeepEqual(got, want) {
		t.Errorf("join: got %v, want %v", got, want)
	}
	wantLeft := map[string][]Joined[int, Optional[string]]{
		"a": {{1, Some("x")}, {3, Some("x")}},
		"b": {{2, Optional[string]{}}},
	}
	if got := groupPairs(leftOuter.at(t1)); !reflect.DeepEqual(got, wantLeft) {
		t.Errorf("leftOuterJoin: got %v, want %v", got, wantLeft)
	}
	wantRight := map[string][]Joined[Optional[int], string]{
		"a": {{Some(1), "x"}, {Some(3), "x"}},
		"c": {{Optional[int]{}, "z"}},
	}
	if got := groupPairs(rightOuter.at(t1)); !reflect.DeepEqual(got, wantRight) {
		t.Errorf("rightOuterJoin: got %v, want %v", got, wantRight)
	}
	wantFull := map[string][]Joined[Optional[int], Optional[string]]{
		"a": {{Some(1), Some("x")}, {Some(3), Some("x")}},
		"b": {{Some(2), Optional[string]{}}},
		"c": {{Optional[int]{}, Some("z")}},
	}
	if got := groupPairs(fullOuter.at(t1)); !reflect.DeepEqual(got, wantFull) {
		t.Errorf("fullOuterJoin: got %v, want %v", got, wantFull)
	}
}

func TestCogroup(t *testing.T) {
	h := newHarness(t, Config{})
	left, right := joinInputs(h)
	col := collect_(Cogroup(left, right, 2))
	h.start()
	h.step(1)
	got := asMap(t, col.at(batchTime(1)))
	want := map[string]Grouped[int, string]{
		"a": {Left: []int{1, 3}, Right: []string{"x"}},
		"b": {Left: []int{2}},
		"c": {Right: []string{"z"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func groupPairs[K comparable, V any](pairs []Pair[K, V]) map[K][]V {
	m := map[K][]V{}
	for _, p := range pairs {
		m[p.Key] = append(m[p.Key], p.Value)
	}
	return m
}
