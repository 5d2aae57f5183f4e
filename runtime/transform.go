package runtime

// Batch is one materialized batch of a stream, as a transform or a
// foreachBatch hook sees it.
type Batch[T any] struct {
	Time       Time
	Partitions [][]T
}

// Len returns the number of records in the batch.
func (b Batch[T]) Len() int {
	n := 0
	for _, p := range b.Partitions {
		n += len(p)
	}
	return n
}

// Records returns every record, partition by partition.
func (b Batch[T]) Records() []T {
	out := make([]T, 0, b.Len())
	for _, p := range b.Partitions {
		out = append(out, p...)
	}
	return out
}

// transformed applies a batch-to-batch function.
type transformed[T, U any] struct {
	nodeInfo
	memo[U]
	parent streamNode[T]
	f      func(Batch[T]) ([]U, error)
}

// Transform returns a stream whose batch at t is f applied to the parent's
// whole batch at t: any batch-level computation, such as a join with a static
// dataset loaded once. f must be deterministic. Its records are spread over
// as many partitions as the parent batch has.
func Transform[T, U any](s Stream[T], f Fn[func(Batch[T]) ([]U, error)]) Stream[U] {
	return unaryFn(s, "transform", f, func(parent streamNode[T], f func(Batch[T]) ([]U, error)) streamNode[U] {
		return &transformed[T, U]{parent: parent, f: f}
	})
}

func (x *transformed[T, U]) compute(t Time) (*dataset[U], error) {
	pd, err := get(x.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	parts := max(pd.parts, 1)
	store := x.ctx.blocks
	var st *stage
	st = newStage(&x.nodeInfo, t, "transform", pd.stages, 1, func(tc *taskContext, _ int) error {
		in := Batch[T]{Time: t, Partitions: make([][]T, pd.parts)}
		for p := range in.Partitions {
			pd.compute(tc, p, func(r T) bool { in.Partitions[p] = append(in.Partitions[p], r); return true })
		}
		tc.current = &x.nodeInfo
		out, err := x.f(in)
		if err != nil {
			return err
		}
		split := splitEvenly(out, parts)
		for p := 0; p < parts; p++ {
			var records []U
			if p < len(split) {
				records = split[p]
			}
			putBlock(store, BlockID{Stage: st.key, Bucket: p}, records)
		}
		return nil
	})
	st.buckets = parts
	return &dataset[U]{stream: &x.nodeInfo, time: t, parts: parts, stages: []*stage{st},
		compute: func(tc *taskContext, p int, yield func(U) bool) bool {
			for _, u := range getBlock[U](tc, store, BlockID{Stage: st.key, Bucket: p}) {
				if !yield(u) {
					return false
				}
			}
			return true
		}}, nil
}
