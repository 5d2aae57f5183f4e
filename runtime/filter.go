package runtime

// filtered keeps the records a predicate accepts.
type filtered[T any] struct {
	nodeInfo
	memo[T]
	parent streamNode[T]
	keep   func(T) bool
}

// Filter returns a stream of the records for which keep returns true.
func (s Stream[T]) Filter(keep Fn[func(T) bool]) Stream[T] {
	return unaryFn(s, "filter", keep, func(parent streamNode[T], keep func(T) bool) streamNode[T] {
		return &filtered[T]{parent: parent, keep: keep}
	})
}

func (f *filtered[T]) compute(t Time) (*dataset[T], error) {
	pd, err := get(f.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	return pipe(&f.nodeInfo, pd, func(tc *taskContext, yield func(T) bool) func(T) bool {
		return func(r T) bool {
			tc.current = &f.nodeInfo
			if f.keep(r) {
				return yield(r)
			}
			return true
		}
	}), nil
}
