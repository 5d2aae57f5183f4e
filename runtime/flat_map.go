package runtime

// flatMapped applies a function that returns zero or more records per record.
type flatMapped[T, U any] struct {
	nodeInfo
	memo[U]
	parent streamNode[T]
	f      func(T) []U
}

// FlatMap returns a stream of every record of f(r) for every record r.
func FlatMap[T, U any](s Stream[T], f Fn[func(T) []U]) Stream[U] {
	return unaryFn(s, "flatMap", f, func(parent streamNode[T], f func(T) []U) streamNode[U] {
		return &flatMapped[T, U]{parent: parent, f: f}
	})
}

func (m *flatMapped[T, U]) compute(t Time) (*dataset[U], error) {
	pd, err := get(m.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	return pipe(&m.nodeInfo, pd, func(tc *taskContext, yield func(U) bool) func(T) bool {
		return func(r T) bool {
			tc.current = &m.nodeInfo
			for _, u := range m.f(r) {
				if !yield(u) {
					return false
				}
			}
			return true
		}
	}), nil
}
