package runtime

import "strconv"

// cogrouped groups two pair streams by key.
type cogrouped[K comparable, V, W any] struct {
	nodeInfo
	memo[Pair[K, Grouped[V, W]]]
	left  streamNode[Pair[K, V]]
	right streamNode[Pair[K, W]]
	parts int
}

// Cogroup returns, for each key present in either stream's batch, every
// value each stream had for it.
func Cogroup[K comparable, V, W any](a Stream[Pair[K, V]], b Stream[Pair[K, W]], partitions int) Stream[Pair[K, Grouped[V, W]]] {
	spec := NodeSpec{Op: "cogroup", Params: map[string]string{"partitions": strconv.Itoa(partitions)}}
	return binary(a, b, spec, nil, func(bd *builder, l streamNode[Pair[K, V]], r streamNode[Pair[K, W]]) (streamNode[Pair[K, Grouped[V, W]]], error) {
		parts, err := bd.partitions()
		if err != nil {
			return nil, err
		}
		return &cogrouped[K, V, W]{left: l, right: r, parts: parts}, nil
	})
}

func (c *cogrouped[K, V, W]) compute(t Time) (*dataset[Pair[K, Grouped[V, W]]], error) {
	return cogroupAt(&c.nodeInfo, c.left, c.right, t, c.parts)
}

// cogroupAt shuffles both sides' batches at t into the same partitions and
// merges them by key: left keys first, in first-seen order, then keys only
// the right side has.
func cogroupAt[K comparable, V, W any](self *nodeInfo, left streamNode[Pair[K, V]], right streamNode[Pair[K, W]], t Time, parts int) (*dataset[Pair[K, Grouped[V, W]]], error) {
	ld, err := getOrEmpty(left, t, self)
	if err != nil {
		return nil, err
	}
	rd, err := getOrEmpty(right, t, self)
	if err != nil {
		return nil, err
	}
	if parts <= 0 {
		parts = self.ctx.cfg.Parallelism
	}
	ls := combineByKey(self, t, ld, parts, groupAgg[V]())
	rs := combineByKey(self, t, rd, parts, groupAgg[W]())
	return &dataset[Pair[K, Grouped[V, W]]]{stream: self, time: t, parts: parts, stages: append(ls.stages, rs.stages...), keyParts: parts,
		compute: func(tc *taskContext, p int, yield func(Pair[K, Grouped[V, W]]) bool) bool {
			om := newOrderedMap[K, Grouped[V, W]](64)
			ls.compute(tc, p, func(kv Pair[K, []V]) bool {
				g, _ := om.slot(kv.Key)
				g.Left = kv.Value
				return true
			})
			rs.compute(tc, p, func(kw Pair[K, []W]) bool {
				g, _ := om.slot(kw.Key)
				g.Right = kw.Value
				return true
			})
			for i, k := range om.keys {
				if !yield(Pair[K, Grouped[V, W]]{Key: k, Value: om.vals[i]}) {
					return false
				}
			}
			return true
		}}, nil
}
