package runtime

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// Manifests run the same operators over dynamic records (any), as CEL
// produces them. Keys are any too.
var (
	parseJSON = Func("test.parseJSON", func(line any) any {
		var v any
		if err := json.Unmarshal([]byte(line.(string)), &v); err != nil {
			Fail(err)
		}
		return v
	})
	byField = Func("test.byField", func(rec any) Pair[any, any] {
		m := rec.(map[string]any)
		return KV(m["user"], m["n"])
	})
	sumDynamic = Func("test.sumDynamic", func(a, b any) any { return a.(float64) + b.(float64) })
)

func TestDynamicRecordsRunOnTheSameOperators(t *testing.T) {
	got := runOn(t, Config{}, [][]any{{`{"user":"a","n":1}`, `{"user":"b","n":2}`, `{"user":"a","n":3}`, `{"user":7,"n":1}`}},
		func(s Stream[any]) Stream[Pair[any, any]] {
			return ReduceByKey(Map(Map(s, parseJSON), byField), sumDynamic, 2)
		})
	want := map[any]any{"a": 4.0, "b": 2.0, 7.0: 1.0}
	if m := asMap(t, got[0]); !reflect.DeepEqual(m, want) {
		t.Fatalf("got %v, want %v", m, want)
	}
}

func TestUnhashableDynamicKeyIsABadRecord(t *testing.T) {
	h := newHarness(t, Config{})
	q := NewQueue([]any{`{"user":{"nested":true},"n":1}`})
	q.Close()
	ReduceByKey(Map(Map(QueueStream(h.c, q), parseJSON), byField).Named("byUser"), sumDynamic, 2).Named("totals").Print()
	h.start()
	h.clock.Advance(testInterval)
	err := h.c.AwaitTermination()
	assertBatchError(t, err, "totals", batchTime(1))
	if !errors.Is(err, ErrBadRecord) {
		t.Fatalf("want ErrBadRecord, got %v", err)
	}
}
