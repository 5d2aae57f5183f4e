package runtime

import (
	"reflect"
	"testing"
)

func TestFlatMap(t *testing.T) {
	got := runOn(t, Config{}, [][]string{{"a b", "", "c"}, {"d e f"}}, func(s Stream[string]) Stream[string] { return FlatMap(s, splitWords) })
	want := [][]string{{"a", "b", "c"}, {"d", "e", "f"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
