package runtime

import (
	"reflect"
	"testing"
)

func TestReduce(t *testing.T) {
	got := runOn(t, Config{}, [][]int{{1, 2, 3}, {}, {7}}, func(s Stream[int]) Stream[int] { return s.Reduce(sumInts) })
	want := [][]int{{6}, nil, {7}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v (an empty batch reduces to nothing)", got, want)
	}
}
