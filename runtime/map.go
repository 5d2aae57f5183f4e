package runtime

// mapped applies a function to every record.
type mapped[T, U any] struct {
	nodeInfo
	memo[U]
	parent streamNode[T]
	f      func(T) U
}

// Map returns a stream of f(r) for every record r.
func Map[T, U any](s Stream[T], f Fn[func(T) U]) Stream[U] {
	return unaryFn(s, "map", f, func(parent streamNode[T], f func(T) U) streamNode[U] {
		return &mapped[T, U]{parent: parent, f: f}
	})
}

func (m *mapped[T, U]) compute(t Time) (*dataset[U], error) {
	pd, err := get(m.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	return pipe(&m.nodeInfo, pd, func(tc *taskContext, yield func(U) bool) func(T) bool {
		return func(r T) bool {
			tc.current = &m.nodeInfo
			return yield(m.f(r))
		}
	}), nil
}
