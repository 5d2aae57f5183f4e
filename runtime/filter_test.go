package runtime

import (
	"reflect"
	"testing"
)

var isEven = Func("test.isEven", func(n int) bool { return n%2 == 0 })

func TestFilter(t *testing.T) {
	got := runOn(t, Config{}, [][]int{{1, 2, 3, 4}, {5}, {6}}, func(s Stream[int]) Stream[int] { return s.Filter(isEven) })
	want := [][]int{{2, 4}, nil, {6}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
