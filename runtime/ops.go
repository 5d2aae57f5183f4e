package runtime

// unary adds an operator with one parent stream.
func unary[T, U any](s Stream[T], spec NodeSpec, fnMap map[string]any, build func(b *builder, parent streamNode[T]) (streamNode[U], error)) Stream[U] {
	return addStream(s.n.info().ctx, spec, []node{s.n}, fnMap, nil, func(b *builder) (streamNode[U], error) {
		p, err := builderParent[T](b, 0)
		if err != nil {
			return nil, err
		}
		return build(b, p)
	})
}

// unaryFn adds a one-parent operator driven by one registered function
// (role "f"), resolved from the SDK call or, on Rebuild, from the registry.
func unaryFn[T, U, F any](s Stream[T], op string, f Fn[F], newOp func(parent streamNode[T], f F) streamNode[U]) Stream[U] {
	return unary(s, NodeSpec{Op: op}, fns("f", f), func(b *builder, parent streamNode[T]) (streamNode[U], error) {
		fn, err := builderFn[F](b, "f")
		if err != nil {
			return nil, err
		}
		return newOp(parent, fn.f), nil
	})
}

// binary adds an operator with two parent streams.
func binary[T, W, U any](a Stream[T], b2 Stream[W], spec NodeSpec, fnMap map[string]any, build func(b *builder, left streamNode[T], right streamNode[W]) (streamNode[U], error)) Stream[U] {
	return addStream(a.n.info().ctx, spec, []node{a.n, b2.n}, fnMap, nil, func(b *builder) (streamNode[U], error) {
		l, err := builderParent[T](b, 0)
		if err != nil {
			return nil, err
		}
		r, err := builderParent[W](b, 1)
		if err != nil {
			return nil, err
		}
		return build(b, l, r)
	})
}

// pipe derives a dataset that runs each parent record through a function
// inside the parent's task: narrow operators are pipelined, never
// materialized between each other.
func pipe[T, U any](self *nodeInfo, pd *dataset[T], through func(tc *taskContext, yield func(U) bool) func(T) bool) *dataset[U] {
	return &dataset[U]{stream: self, time: pd.time, parts: pd.parts, stages: pd.stages,
		compute: func(tc *taskContext, p int, yield func(U) bool) bool {
			return pd.compute(tc, p, through(tc, yield))
		}}
}
