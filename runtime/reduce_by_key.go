package runtime

import "strconv"

// reducedByKey merges the values of each key with an associative function.
type reducedByKey[K comparable, V any] struct {
	nodeInfo
	memo[Pair[K, V]]
	parent streamNode[Pair[K, V]]
	f      func(V, V) V
	parts  int
}

// ReduceByKey returns a stream with one pair per key and batch, its values
// merged with f, which must be associative and commutative. It shuffles
// into partitions partitions (0: the context's parallelism), combining on
// the map side first.
func ReduceByKey[K comparable, V any](s Stream[Pair[K, V]], f Fn[func(V, V) V], partitions int) Stream[Pair[K, V]] {
	spec := NodeSpec{Op: "reduceByKey", Params: map[string]string{"partitions": strconv.Itoa(partitions)}}
	return unary(s, spec, fns("reduce", f), func(b *builder, parent streamNode[Pair[K, V]]) (streamNode[Pair[K, V]], error) {
		fn, err := builderFn[func(V, V) V](b, "reduce")
		if err != nil {
			return nil, err
		}
		parts, err := b.partitions()
		if err != nil {
			return nil, err
		}
		return &reducedByKey[K, V]{parent: parent, f: fn.f, parts: parts}, nil
	})
}

func (r *reducedByKey[K, V]) compute(t Time) (*dataset[Pair[K, V]], error) {
	pd, err := get(r.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	return combineByKey(&r.nodeInfo, t, pd, r.parts, reduceAgg(r.f)), nil
}
