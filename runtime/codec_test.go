package runtime

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func roundTrip[T any](t *testing.T, records []T) []T {
	t.Helper()
	b, err := EncodeRecords(records)
	if err != nil {
		t.Fatalf("encoding %v: %v", records, err)
	}
	got, err := DecodeRecords[T](b)
	if err != nil {
		t.Fatalf("decoding %v: %v", records, err)
	}
	if !reflect.DeepEqual(got, records) && !(len(got) == 0 && len(records) == 0) {
		t.Fatalf("round trip changed %#v into %#v", records, got)
	}
	return got
}

func TestCodecRoundTripsEveryRecordType(t *testing.T) {
	dynamic := []any{nil, true, false, int64(-7), uint64(1 << 63), 3.25, math.Inf(-1), "text", []byte{0, 1},
		[]any{int64(1), "two", []any{nil}}, map[string]any{"b": int64(2), "a": []any{"x"}, "n": nil},
		KV[any, any]("k", map[string]any{"v": 1.5})}
	roundTrip(t, dynamic)
	roundTrip(t, []string{"a", "", "ünïcode"})
	roundTrip(t, []int64{0, -1, math.MaxInt64})
	roundTrip(t, []int{1, -2})
	roundTrip(t, []Pair[string, int]{KV("a", 1), KV("b", -2)})
	roundTrip(t, []Pair[any, int64]{KV[any](any("w"), int64(3)), KV[any](any(int64(9)), int64(1))})
	roundTrip(t, []Pair[any, []any]{KV[any, []any]("k", []any{int64(1), "x"})})
	roundTrip(t, []Optional[any]{Some[any]("x"), {}})
	roundTrip(t, []Pair[any, Joined[any, Optional[any]]]{KV[any](any("k"), Joined[any, Optional[any]]{Left: int64(1), Right: Some[any]("r")})})
	roundTrip(t, []Pair[string, Grouped[int, string]]{KV("k", Grouped[int, string]{Left: []int{1, 2}, Right: []string{"x"}})})
	roundTrip(t, []any(nil))
	roundTrip(t, []Pair[string, []int]{KV("k", []int{1, -2, 3})})
	roundTrip(t, []Pair[int32, float32]{KV(int32(-4), float32(1.5))})
}

func TestCodecIsDeterministic(t *testing.T) {
	m := map[string]any{}
	for _, k := range []string{"z", "a", "m", "b", "y"} {
		m[k] = k
	}
	first, _ := EncodeRecords([]any{m})
	for i := 0; i < 20; i++ {
		again, _ := EncodeRecords([]any{m})
		if string(again) != string(first) {
			t.Fatal("the same map encoded to different bytes")
		}
	}
}

func TestCodecRejectsWhatItCannotCarry(t *testing.T) {
	if _, err := EncodeRecords([]any{make(chan int)}); err == nil {
		t.Fatal("a channel was encoded")
	}
	b, _ := EncodeRecords([]string{"x"})
	if _, err := DecodeRecords[int64](b); !errors.Is(err, ErrCorruptBlock) {
		t.Fatalf("a string block decoded as ints: %v", err)
	}
	for _, bad := range [][]byte{{}, {5}, {1, tagString, 200}, {1, 99}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := DecodeRecords[any](bad); !errors.Is(err, ErrCorruptBlock) {
			t.Errorf("decoding % x: got %v, want ErrCorruptBlock", bad, err)
		}
	}
}

// FuzzDecodeRecords feeds arbitrary blocks to the decoder: it returns
// records or ErrCorruptBlock, never panics, and what it decodes encodes back
// to a block that decodes the same.
func FuzzDecodeRecords(f *testing.F) {
	for _, recs := range [][]any{
		{nil, true, int64(-3), 2.5, "s", []any{int64(1)}, map[string]any{"k": "v"}, KV[any, any]("a", int64(1))},
		{[]byte{1, 2}, uint64(7)},
	} {
		b, _ := EncodeRecords(recs)
		f.Add(b)
	}
	f.Add([]byte{1, tagList, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := DecodeRecords[any](data)
		if err != nil {
			if !errors.Is(err, ErrCorruptBlock) {
				t.Fatalf("error does not wrap ErrCorruptBlock: %v", err)
			}
			return
		}
		again, err := EncodeRecords(recs)
		if err != nil {
			t.Fatalf("decoded records do not encode: %v", err)
		}
		back, err := DecodeRecords[any](again)
		if err != nil || !reflect.DeepEqual(nanSafe(back), nanSafe(recs)) {
			t.Fatalf("re-decoding changed the records: %v", err)
		}
	})
}

// nanSafe replaces NaNs, which never equal themselves, by a marker.
func nanSafe(v []any) any {
	b, _ := EncodeRecords(v)
	return string(b)
}
