package runtime

import (
	"reflect"
	"testing"
)

func TestCount(t *testing.T) {
	got := runOn(t, Config{}, [][]int{{1, 2, 3}, {}, {4}}, func(s Stream[int]) Stream[int64] { return s.Count() })
	want := [][]int64{{3}, {0}, {1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v (an empty batch counts 0)", got, want)
	}
}
