package runtime

import (
	"strconv"
)

// joined joins two pair streams by key; the flatten function decides which
// combinations an inner or outer join emits.
type joined[K comparable, V, W, J any] struct {
	nodeInfo
	memo[Pair[K, J]]
	left    streamNode[Pair[K, V]]
	right   streamNode[Pair[K, W]]
	parts   int
	flatten func(k K, g Grouped[V, W], yield func(Pair[K, J]) bool) bool
}

func addJoin[K comparable, V, W, J any](op string, a Stream[Pair[K, V]], b Stream[Pair[K, W]], partitions int,
	flatten func(k K, g Grouped[V, W], yield func(Pair[K, J]) bool) bool) Stream[Pair[K, J]] {
	spec := NodeSpec{Op: op, Params: map[string]string{"partitions": strconv.Itoa(partitions)}}
	return binary(a, b, spec, nil, func(bd *builder, l streamNode[Pair[K, V]], r streamNode[Pair[K, W]]) (streamNode[Pair[K, J]], error) {
		parts, err := bd.partitions()
		if err != nil {
			return nil, err
		}
		return &joined[K, V, W, J]{left: l, right: r, parts: parts, flatten: flatten}, nil
	})
}

func (j *joined[K, V, W, J]) compute(t Time) (*dataset[Pair[K, J]], error) {
	cg, err := cogroupAt(&j.nodeInfo, j.left, j.right, t, j.parts)
	if err != nil {
		return nil, err
	}
	return pipe(&j.nodeInfo, cg, func(_ *taskContext, yield func(Pair[K, J]) bool) func(Pair[K, Grouped[V, W]]) bool {
		return func(g Pair[K, Grouped[V, W]]) bool { return j.flatten(g.Key, g.Value, yield) }
	}), nil
}

// Join returns the inner join of two pair streams: for every key in both
// batches, every combination of a left and a right value.
func Join[K comparable, V, W any](a Stream[Pair[K, V]], b Stream[Pair[K, W]], partitions int) Stream[Pair[K, Joined[V, W]]] {
	return addJoin(JoinInner, a, b, partitions, func(k K, g Grouped[V, W], yield func(Pair[K, Joined[V, W]]) bool) bool {
		for _, v := range g.Left {
			for _, w := range g.Right {
				if !yield(KV(k, Joined[V, W]{Left: v, Right: w})) {
					return false
				}
			}
		}
		return true
	})
}

// LeftOuterJoin is Join, plus every left value whose key has no right value,
// paired with an absent right value.
func LeftOuterJoin[K comparable, V, W any](a Stream[Pair[K, V]], b Stream[Pair[K, W]], partitions int) Stream[Pair[K, Joined[V, Optional[W]]]] {
	return addJoin(JoinLeftOuter, a, b, partitions, func(k K, g Grouped[V, W], yield func(Pair[K, Joined[V, Optional[W]]]) bool) bool {
		for _, v := range g.Left {
			if len(g.Right) == 0 && !yield(KV(k, Joined[V, Optional[W]]{Left: v})) {
				return false
			}
			for _, w := range g.Right {
				if !yield(KV(k, Joined[V, Optional[W]]{Left: v, Right: Some(w)})) {
					return false
				}
			}
		}
		return true
	})
}

// RightOuterJoin is Join, plus every right value whose key has no left
// value, paired with an absent left value.
func RightOuterJoin[K comparable, V, W any](a Stream[Pair[K, V]], b Stream[Pair[K, W]], partitions int) Stream[Pair[K, Joined[Optional[V], W]]] {
	return addJoin(JoinRightOuter, a, b, partitions, func(k K, g Grouped[V, W], yield func(Pair[K, Joined[Optional[V], W]]) bool) bool {
		for _, w := range g.Right {
			if len(g.Left) == 0 && !yield(KV(k, Joined[Optional[V], W]{Right: w})) {
				return false
			}
			for _, v := range g.Left {
				if !yield(KV(k, Joined[Optional[V], W]{Left: Some(v), Right: w})) {
					return false
				}
			}
		}
		return true
	})
}

// FullOuterJoin is Join, plus the values of either side whose key the other
// side lacks, paired with an absent value.
func FullOuterJoin[K comparable, V, W any](a Stream[Pair[K, V]], b Stream[Pair[K, W]], partitions int) Stream[Pair[K, Joined[Optional[V], Optional[W]]]] {
	return addJoin(JoinFullOuter, a, b, partitions, func(k K, g Grouped[V, W], yield func(Pair[K, Joined[Optional[V], Optional[W]]]) bool) bool {
		switch {
		case len(g.Left) == 0:
			for _, w := range g.Right {
				if !yield(KV(k, Joined[Optional[V], Optional[W]]{Right: Some(w)})) {
					return false
				}
			}
		case len(g.Right) == 0:
			for _, v := range g.Left {
				if !yield(KV(k, Joined[Optional[V], Optional[W]]{Left: Some(v)})) {
					return false
				}
			}
		default:
			for _, v := range g.Left {
				for _, w := range g.Right {
					if !yield(KV(k, Joined[Optional[V], Optional[W]]{Left: Some(v), Right: Some(w)})) {
						return false
					}
				}
			}
		}
		return true
	})
}

// Join operator names, as they appear in graph descriptions.
const (
	JoinInner      = "join"
	JoinLeftOuter  = "leftOuterJoin"
	JoinRightOuter = "rightOuterJoin"
	JoinFullOuter  = "fullOuterJoin"
)
