package runtime

import "encoding/json"

// Pair is a key/value record. Streams of pairs (Stream[Pair[K, V]]) are the
// keyed streams that reduceByKey, join, window-by-key and the state operators
// work on. In files and in CEL a pair is {"key": ..., "value": ...}.
type Pair[K, V any] struct {
	Key   K `json:"key"`
	Value V `json:"value"`
}

// KV builds a Pair.
func KV[K, V any](k K, v V) Pair[K, V] { return Pair[K, V]{Key: k, Value: v} }

// Optional is a value that may be absent: the missing side of an outer join,
// or the missing value on a mapWithState timeout call.
type Optional[T any] struct {
	Value T
	Ok    bool
}

// Some returns a present Optional.
func Some[T any](v T) Optional[T] { return Optional[T]{Value: v, Ok: true} }

// Get returns the value and whether it is present.
func (o Optional[T]) Get() (T, bool) { return o.Value, o.Ok }

// OrElse returns the value, or def when absent.
func (o Optional[T]) OrElse(def T) T {
	if o.Ok {
		return o.Value
	}
	return def
}

// MarshalJSON writes the value, or null when absent.
func (o Optional[T]) MarshalJSON() ([]byte, error) {
	if !o.Ok {
		return []byte("null"), nil
	}
	return json.Marshal(o.Value)
}

// Joined is the value of a joined pair: the left stream's value and the right
// stream's value for the same key.
type Joined[V, W any] struct {
	Left  V `json:"left"`
	Right W `json:"right"`
}

// Grouped is the value of a cogrouped pair: every value each stream had for
// the key in the batch, in arrival order.
type Grouped[V, W any] struct {
	Left  []V `json:"left"`
	Right []W `json:"right"`
}

// String renders the pair as print shows it: (key,value).
func (p Pair[K, V]) String() string {
	return "(" + FormatRecord(p.Key) + "," + FormatRecord(p.Value) + ")"
}
