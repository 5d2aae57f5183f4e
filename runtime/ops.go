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
