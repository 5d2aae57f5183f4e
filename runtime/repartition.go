package runtime

import (
	"errors"
	"strconv"
)

// repartitioned redistributes records over a new number of partitions.
type repartitioned[T any] struct {
	nodeInfo
	memo[T]
	parent streamNode[T]
	parts  int
}

// Repartition returns the stream with each batch spread over n partitions,
// round-robin from each parent partition, which is a shuffle.
func (s Stream[T]) Repartition(n int) Stream[T] {
	return unary(s, NodeSpec{Op: "repartition", Params: map[string]string{"partitions": strconv.Itoa(n)}}, nil,
		func(b *builder, parent streamNode[T]) (streamNode[T], error) {
			n, err := b.spec.intParam("partitions")
			if err != nil {
				return nil, err
			}
			if n <= 0 {
				return nil, errors.New("repartition needs a positive partition count")
			}
			return &repartitioned[T]{parent: parent, parts: n}, nil
		})
}

func (r *repartitioned[T]) compute(t Time) (*dataset[T], error) {
	pd, err := get(r.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	store := r.ctx.blocks
	var st *stage
	st = newStage(&r.nodeInfo, t, "shuffle", pd.stages, pd.parts, func(tc *taskContext, m int) error {
		buckets := make([][]T, r.parts)
		// Start each map task at a different target so that small
		// partitions do not all land in partition 0; deterministic by m.
		i := m
		pd.compute(tc, m, func(x T) bool {
			buckets[i%r.parts] = append(buckets[i%r.parts], x)
			i++
			return true
		})
		for b, records := range buckets {
			putBlock(store, BlockID{Stage: st.key, Task: m, Bucket: b}, records)
		}
		return nil
	})
	st.buckets = r.parts
	return &dataset[T]{stream: &r.nodeInfo, time: t, parts: r.parts, stages: []*stage{st},
		compute: func(tc *taskContext, p int, yield func(T) bool) bool {
			for m := 0; m < pd.parts; m++ {
				for _, x := range getBlock[T](tc, store, BlockID{Stage: st.key, Task: m, Bucket: p}) {
					if !yield(x) {
						return false
					}
				}
			}
			return true
		}}, nil
}
