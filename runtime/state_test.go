package runtime

import (
	"reflect"
	"testing"
	"time"
)

// The worked example from the reference slides (004): batches [a], [a, b], [b].
var slideBatches = [][]Pair[string, int]{{KV("a", 1)}, {KV("a", 1), KV("b", 1)}, {KV("b", 1)}}

var runningSum = Func("test.runningSum", func(values []int, state Optional[int]) (int, bool) {
	sum := state.OrElse(0)
	for _, v := range values {
		sum += v
	}
	return sum, true
})

var mapRunningSum = Func("test.mapRunningSum", func(_ Time, key string, value Optional[int], state *State[int]) (Pair[string, int], bool) {
	sum := value.OrElse(0) + state.Get()
	state.Update(sum)
	return KV(key, sum), true
})

func TestUpdateStateByKeyEmitsEveryKey(t *testing.T) {
	got := runOn(t, Config{}, slideBatches, func(s Stream[Pair[string, int]]) Stream[Pair[string, int]] {
		return UpdateStateByKey(s, runningSum, 0)
	})
	want := []map[string]int{{"a": 1}, {"a": 2, "b": 1}, {"a": 2, "b": 2}}
	for i := range want {
		if m := asMap(t, got[i]); !reflect.DeepEqual(m, want[i]) {
			t.Errorf("batch %d: got %v, want %v", i+1, m, want[i])
		}
	}
}

func TestMapWithStateEmitsOnlyKeysInBatch(t *testing.T) {
	got := runOn(t, Config{}, slideBatches, func(s Stream[Pair[string, int]]) Stream[Pair[string, int]] {
		return MapWithState(s, StateSpec[string, int, int, Pair[string, int]]{Func: mapRunningSum}).Stream
	})
	want := [][]Pair[string, int]{{KV("a", 1)}, {KV("a", 2), KV("b", 1)}, {KV("b", 2)}}
	for i := range want {
		if !reflect.DeepEqual(asMap(t, got[i]), asMap(t, want[i])) {
			t.Errorf("batch %d: got %v, want %v", i+1, got[i], want[i])
		}
	}
}

var dropAtThree = Func("test.dropAtThree", func(values []int, state Optional[int]) (int, bool) {
	sum := state.OrElse(0) + len(values)
	return sum, sum < 3
})

func TestUpdateStateByKeyDeletesKeyWhenFunctionSaysNone(t *testing.T) {
	got := runOn(t, Config{}, [][]Pair[string, int]{{KV("a", 1), KV("a", 1)}, {KV("a", 1), KV("b", 1)}, {}},
		func(s Stream[Pair[string, int]]) Stream[Pair[string, int]] {
			return UpdateStateByKey(s, dropAtThree, 0)
		})
	want := []map[string]int{{"a": 2}, {"b": 1}, {"b": 1}}
	for i := range want {
		if m := asMap(t, got[i]); !reflect.DeepEqual(m, want[i]) {
			t.Errorf("batch %d: got %v, want %v", i+1, m, want[i])
		}
	}
}

// sessionEvents records every call, including timeout calls.
type call struct {
	Key       string
	Value     Optional[int]
	TimingOut bool
	State     int
}

var recordCalls = Func("test.recordCalls", func(_ Time, key string, value Optional[int], state *State[int]) (call, bool) {
	c := call{Key: key, Value: value, TimingOut: state.IsTimingOut(), State: state.Get()}
	if !state.IsTimingOut() {
		state.Update(state.Get() + value.OrElse(0))
	}
	return c, true
})

var initialState = Func("test.initialState", func() ([]Pair[string, int], error) {
	return []Pair[string, int]{KV("seed", 100)}, nil
})

func TestMapWithStateTimeoutInitialStateAndSnapshots(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue(
		[]Pair[string, int]{KV("a", 1), KV("seed", 1)}, // t=1
		[]Pair[string, int]{KV("b", 1)},                // t=2
		[]Pair[string, int]{KV("b", 1)},                // t=3: a idle since 1 -> times out (timeout 2s: 1 < 3-2 is false)
		[]Pair[string, int]{},                          // t=4: a updated at 1 < 4-2 -> times out
	)
	q.Close()
	st := MapWithState(QueueStream(h.c, q), StateSpec[string, int, int, call]{
		Func: recordCalls, Timeout: 2 * time.Second, Initial: initialState,
	})
	calls := collect_(st.Stream)
	snaps := collect_(st.StateSnapshots())
	h.start()
	h.step(4)

	if got := asMap(t, snaps.at(batchTime(1))); !reflect.DeepEqual(got, map[string]int{"a": 1, "seed": 101}) {
		t.Errorf("snapshot 1: %v", got)
	}
	if got := calls.at(batchTime(3)); !reflect.DeepEqual(got, []call{{Key: "b", Value: Some(1), State: 1}}) {
		t.Errorf("batch 3 calls: %v", got)
	}
	wantTimeouts := map[string]call{
		"a":    {Key: "a", TimingOut: true, State: 1},
		"seed": {Key: "seed", TimingOut: true, State: 101},
	}
	gotTimeouts := map[string]call{}
	for _, c := range calls.at(batchTime(4)) {
		gotTimeouts[c.Key] = c
	}
	if !reflect.DeepEqual(gotTimeouts, wantTimeouts) {
		t.Errorf("batch 4 should time out a and seed once each: got %v", calls.at(batchTime(4)))
	}
	if got := asMap(t, snaps.at(batchTime(4))); !reflect.DeepEqual(got, map[string]int{"b": 2}) {
		t.Errorf("snapshot 4 after timeouts: %v", got)
	}
}

var updateOnTimeout = Func("test.updateOnTimeout", func(_ Time, key string, _ Optional[int], state *State[int]) (int, bool) {
	state.Update(1)
	return 0, false
})

func TestMapWithStateUpdateWhileTimingOutFailsTheBatch(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue([]Pair[string, int]{KV("a", 1)}, []Pair[string, int]{}, []Pair[string, int]{})
	q.Close()
	MapWithState(QueueStream(h.c, q), StateSpec[string, int, int, int]{Func: updateOnTimeout, Timeout: time.Second}).Named("sessions").Print()
	h.start()
	h.clock.Advance(3 * testInterval)
	err := h.c.AwaitTermination()
	assertBatchError(t, err, "sessions", batchTime(3))
}

// A long run crosses the state map's compaction depth and keeps every key.
func TestMapWithStateSurvivesCompaction(t *testing.T) {
	var batches [][]Pair[string, int]
	for i := 0; i < 3*stateMapMaxDepth; i++ {
		batches = append(batches, []Pair[string, int]{KV("k"+string(rune('a'+i%5)), 1)})
	}
	h := newHarness(t, Config{})
	q := NewQueue(batches...)
	q.Close()
	snaps := collect_(MapWithState(QueueStream(h.c, q), StateSpec[string, int, int, Pair[string, int]]{Func: mapRunningSum}).StateSnapshots())
	h.start()
	h.step(len(batches))
	got := asMap(t, snaps.at(batchTime(len(batches))))
	want := map[string]int{}
	for i := range batches {
		want["k"+string(rune('a'+i%5))]++
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
