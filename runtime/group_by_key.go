package runtime

import "strconv"

// groupedByKey collects the values of each key.
type groupedByKey[K comparable, V any] struct {
	nodeInfo
	memo[Pair[K, []V]]
	parent streamNode[Pair[K, V]]
	parts  int
}

// GroupByKey returns a stream with one pair per key and batch holding every
// value of the key, in arrival order.
func GroupByKey[K comparable, V any](s Stream[Pair[K, V]], partitions int) Stream[Pair[K, []V]] {
	spec := NodeSpec{Op: "groupByKey", Params: map[string]string{"partitions": strconv.Itoa(partitions)}}
	return unary(s, spec, nil, func(b *builder, parent streamNode[Pair[K, V]]) (streamNode[Pair[K, []V]], error) {
		parts, err := b.partitions()
		if err != nil {
			return nil, err
		}
		return &groupedByKey[K, V]{parent: parent, parts: parts}, nil
	})
}

func (g *groupedByKey[K, V]) compute(t Time) (*dataset[Pair[K, []V]], error) {
	pd, err := get(g.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	return combineByKey(&g.nodeInfo, t, pd, g.parts, groupAgg[V]()), nil
}
