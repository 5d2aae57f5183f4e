package runtime

import (
	"reflect"
	"strings"
	"testing"
)

var upper = Func("test.upper", strings.ToUpper)

func TestMap(t *testing.T) {
	got := runOn(t, Config{}, [][]string{{"a", "b"}, {}, {"c"}}, func(s Stream[string]) Stream[string] { return Map(s, upper) })
	want := [][]string{{"A", "B"}, nil, {"C"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
