package runtime

// reduced folds each batch into one record.
type reduced[T any] struct {
	nodeInfo
	memo[T]
	parent streamNode[T]
	f      func(T, T) T
}

// Reduce returns a stream with one record per non-empty batch: the batch's
// records merged with f, which must be associative and commutative. An empty
// batch yields an empty batch.
func (s Stream[T]) Reduce(f Fn[func(T, T) T]) Stream[T] {
	return unary(s, NodeSpec{Op: "reduce"}, fns("reduce", f), func(b *builder, parent streamNode[T]) (streamNode[T], error) {
		fn, err := builderFn[func(T, T) T](b, "reduce")
		if err != nil {
			return nil, err
		}
		return &reduced[T]{parent: parent, f: fn.f}, nil
	})
}

func (r *reduced[T]) compute(t Time) (*dataset[T], error) {
	pd, err := get(r.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	merge := func(acc Optional[T], x T) Optional[T] {
		if !acc.Ok {
			return Some(x)
		}
		return Some(r.f(acc.Value, x))
	}
	agg := aggregateAll(&r.nodeInfo, pd,
		func() Optional[T] { return Optional[T]{} },
		merge,
		func(a, b Optional[T]) Optional[T] {
			if !b.Ok {
				return a
			}
			return merge(a, b.Value)
		},
		func(o Optional[T]) bool { return o.Ok })
	return pipe(&r.nodeInfo, agg, func(_ *taskContext, yield func(T) bool) func(Optional[T]) bool {
		return func(o Optional[T]) bool { return yield(o.Value) }
	}), nil
}
