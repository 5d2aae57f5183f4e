package runtime

import "fmt"

// Re-partitioning keyed state on restore: a job that resumes with another
// partition count (a changed spec.parallelism) finds each key's state in
// the partition its key hashes to under the new count, as Flink rescales
// keyed state from a savepoint.

// rekeyer is a stateful stream whose saved batches can be re-partitioned:
// blocks[task][bucket] encoded under one partition count, returned under
// to.
type rekeyer interface {
	rekey(blocks [][][]byte, to int) ([][][]byte, error)
}

// rekeyBucket re-partitions bucket b of every task, whose blocks hold
// []Pair[K, X], by key. Records keep their order within each old partition,
// and old partitions are taken in order, so the result is deterministic.
func rekeyBucket[K comparable, X any](blocks [][][]byte, b, to int, out [][][]byte) error {
	parts := make([][]Pair[K, X], to)
	for task := range blocks {
		records, err := DecodeRecords[Pair[K, X]](blocks[task][b])
		if err != nil {
			return fmt.Errorf("partition %d: %w", task, err)
		}
		for _, r := range records {
			p := partitionOf(r.Key, to)
			parts[p] = append(parts[p], r)
		}
	}
	for p := range parts {
		data, err := EncodeRecords(parts[p])
		if err != nil {
			return err
		}
		out[p][b] = data
	}
	return nil
}

// spreadBucket re-partitions bucket b, whose records are not keyed, by
// giving old partition p to new partition p mod to.
func spreadBucket[T any](blocks [][][]byte, b, to int, out [][][]byte) error {
	parts := make([][]T, to)
	for task := range blocks {
		records, err := DecodeRecords[T](blocks[task][b])
		if err != nil {
			return fmt.Errorf("partition %d: %w", task, err)
		}
		parts[task%to] = append(parts[task%to], records...)
	}
	for p := range parts {
		data, err := EncodeRecords(parts[p])
		if err != nil {
			return err
		}
		out[p][b] = data
	}
	return nil
}

func newBlocks(tasks, buckets int) [][][]byte {
	out := make([][][]byte, tasks)
	for i := range out {
		out[i] = make([][]byte, buckets)
	}
	return out
}

func (u *stateByKey[K, V, S]) rekey(blocks [][][]byte, to int) ([][][]byte, error) {
	out := newBlocks(to, 1)
	return out, rekeyBucket[K, S](blocks, 0, to, out)
}

func (w *reducedWindowed[K, V]) rekey(blocks [][][]byte, to int) ([][][]byte, error) {
	out := newBlocks(to, 1)
	return out, rekeyBucket[K, V](blocks, 0, to, out)
}

// A mapWithState task saved what it emitted (not keyed) and its state map
// (keyed).
func (m *mapWithStateNode[K, V, S, M]) rekey(blocks [][][]byte, to int) ([][][]byte, error) {
	out := newBlocks(to, 2)
	if err := spreadBucket[M](blocks, outputBucket, to, out); err != nil {
		return nil, err
	}
	return out, rekeyBucket[K, Pair[S, int64]](blocks, stateBucket, to, out)
}
