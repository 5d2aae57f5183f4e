package runtime

import (
	"reflect"
	"testing"
)

func TestReduceByKey(t *testing.T) {
	batches := [][]Pair[string, int]{{KV("a", 1), KV("b", 2), KV("a", 3)}, {}, {KV("b", 5)}}
	got := runOn(t, Config{}, batches, func(s Stream[Pair[string, int]]) Stream[Pair[string, int]] { return ReduceByKey(s, sumInts, 4) })
	want := []map[string]int{{"a": 4, "b": 2}, {}, {"b": 5}}
	for i := range want {
		if m := asMap(t, got[i]); !reflect.DeepEqual(m, want[i]) {
			t.Errorf("batch %d: got %v, want %v", i+1, m, want[i])
		}
	}
}

// The same input gives the same records in the same partitions, however the
// work is scheduled: recomputation from lineage depends on it.
func TestShuffleIsDeterministicPartitionForPartition(t *testing.T) {
	var input []Pair[string, int]
	for i := 0; i < 2000; i++ {
		input = append(input, KV(string(rune('a'+i%26))+string(rune('a'+i%7)), i))
	}
	run := func(workers int) [][]Pair[string, int] {
		h := newHarness(t, Config{Workers: workers, Parallelism: 4})
		q := NewQueue[Pair[string, int]]()
		q.PushPartitions(input[:700], input[700:1500], input[1500:])
		q.Close()
		var parts [][]Pair[string, int]
		ReduceByKey(QueueStream(h.c, q), sumInts, 5).ForeachBatch(testFn(func(b Batch[Pair[string, int]]) error {
			parts = b.Partitions
			return nil
		}))
		h.start()
		h.step(1)
		return parts
	}
	first := run(1)
	for _, workers := range []int{2, 4, 8} {
		if again := run(workers); !reflect.DeepEqual(first, again) {
			t.Fatalf("with %d workers the partitions differ", workers)
		}
	}
	for p, part := range first {
		for _, kv := range part {
			if partitionOf(kv.Key, 5) != p {
				t.Fatalf("key %q is in partition %d, its hash says %d", kv.Key, p, partitionOf(kv.Key, 5))
			}
		}
	}
}
