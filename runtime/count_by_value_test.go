package runtime

import (
	"reflect"
	"testing"
)

func TestCountByValue(t *testing.T) {
	got := runOn(t, Config{}, [][]string{{"a", "b", "a"}, {"c"}}, func(s Stream[string]) Stream[Pair[string, int64]] { return CountByValue(s, 3) })
	want := []map[string]int64{{"a": 2, "b": 1}, {"c": 1}}
	for i := range want {
		if m := asMap(t, got[i]); !reflect.DeepEqual(m, want[i]) {
			t.Errorf("batch %d: got %v, want %v", i+1, m, want[i])
		}
	}
}
