package runtime

import (
	"reflect"
	"strings"
	"testing"
)

func TestGeneratorIsRateControlledBoundedAndReplayable(t *testing.T) {
	opts := GeneratorOptions{RecordsPerSecond: 100, RecordSize: 40, Count: 250, Seed: 9, Partitions: 3}
	got := runOnSource(t, func(c *Context) Stream[string] { return GeneratorStream(c, opts) }, 3)
	sizes := []int{len(got[0]), len(got[1]), len(got[2])}
	if !reflect.DeepEqual(sizes, []int{100, 100, 50}) {
		t.Fatalf("batch sizes %v, want [100 100 50] (100/s, bounded at 250)", sizes)
	}
	i := int64(0)
	for _, batch := range got {
		for _, r := range batch {
			if want := GeneratedRecord(nil, 9, i, 40); r != want {
				t.Fatalf("record %d = %q, want %q", i, r, want)
			}
			if len(r) != 40 || strings.HasSuffix(strings.TrimSpace(r), " ") {
				t.Fatalf("record %d has length %d", i, len(r))
			}
			i++
		}
	}
}

func TestGeneratorRejectsZeroRate(t *testing.T) {
	h := newHarness(t, Config{})
	GeneratorStream(h.c, GeneratorOptions{}).Named("gen").Print()
	if err := h.c.Err(); err == nil || !strings.Contains(err.Error(), "recordsPerSecond") || !strings.Contains(err.Error(), `"gen`) {
		t.Fatalf("got %v", err)
	}
}
