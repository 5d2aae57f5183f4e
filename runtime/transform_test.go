package runtime

import (
	"reflect"
	"testing"
)

// A stream-dataset join: each batch joined with a static table.
var enrichWithCountry = Func("test.enrichWithCountry", func(b Batch[string]) ([]Pair[string, string], error) {
	static := map[string]string{"alice": "NO", "bob": "SE"}
	var out []Pair[string, string]
	for _, user := range b.Records() {
		if c, ok := static[user]; ok {
			out = append(out, KV(user, c))
		}
	}
	return out, nil
})

func TestTransformJoinsWithStaticDataset(t *testing.T) {
	got := runOn(t, Config{}, [][]string{{"alice", "carol", "bob"}, {"bob"}}, func(s Stream[string]) Stream[Pair[string, string]] {
		return Transform(s, enrichWithCountry)
	})
	want := [][]Pair[string, string]{{KV("alice", "NO"), KV("bob", "SE")}, {KV("bob", "SE")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
