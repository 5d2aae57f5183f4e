package runtime

import "testing"

// A finished batch lets go of its lineage: after many batches the newest
// state is not holding every earlier batch in memory.
func TestStateDoesNotRetainItsWholeLineage(t *testing.T) {
	var batches [][]Pair[string, int]
	for i := 0; i < 40; i++ {
		batches = append(batches, []Pair[string, int]{KV("k", 1)})
	}
	h := newHarness(t, Config{})
	q := NewQueue(batches...)
	q.Close()
	state := UpdateStateByKey(QueueStream(h.c, q), runningSum, 0)
	state.Print()
	runToEnd(t, h, len(batches))
	ds, err := get(state.n, batchTime(len(batches)))
	if err != nil || ds == nil {
		t.Fatalf("last state batch: %v", err)
	}
	if n := reachableStages(ds.stages); n > 3 {
		t.Fatalf("the last state batch still reaches %d stages of earlier batches", n)
	}
}

func reachableStages(stages []*stage) int {
	seen := map[int64]bool{}
	var walk func([]*stage)
	walk = func(ss []*stage) {
		for _, s := range ss {
			if !seen[s.id] {
				seen[s.id] = true
				walk(s.deps)
			}
		}
	}
	walk(stages)
	return len(seen)
}
