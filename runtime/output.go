package runtime

// outputBase is embedded by output operations, which keep no batches of
// their own.
type outputBase struct{ nodeInfo }

func (*outputBase) forget(Time)     {}
func (*outputBase) invalidate(Time) {}

// addOutputOp adds an output with one parent stream.
func addOutputOp[T any](s Stream[T], spec NodeSpec, fnMap map[string]any, build func(b *builder, parent streamNode[T]) (outputNode, error)) {
	addOutput(s.n.info().ctx, spec, []node{s.n}, fnMap, nil, func(b *builder) (outputNode, error) {
		p, err := builderParent[T](b, 0)
		if err != nil {
			return nil, err
		}
		return build(b, p)
	})
}
