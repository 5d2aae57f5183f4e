package runtime

import "iter"

// partitionsMapped transforms each partition as a whole.
type partitionsMapped[T, U any] struct {
	nodeInfo
	memo[U]
	parent streamNode[T]
	f      func(iter.Seq[T]) iter.Seq[U]
}

// MapPartitions returns a stream whose every partition is f applied to the
// records of the parent's partition: per-partition setup (a connection, a
// buffer) is paid once per partition rather than once per record.
func MapPartitions[T, U any](s Stream[T], f Fn[func(iter.Seq[T]) iter.Seq[U]]) Stream[U] {
	return unaryFn(s, "mapPartitions", f, func(parent streamNode[T], f func(iter.Seq[T]) iter.Seq[U]) streamNode[U] {
		return &partitionsMapped[T, U]{parent: parent, f: f}
	})
}

func (m *partitionsMapped[T, U]) compute(t Time) (*dataset[U], error) {
	pd, err := get(m.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	return &dataset[U]{stream: &m.nodeInfo, time: t, parts: pd.parts, stages: pd.stages,
		compute: func(tc *taskContext, p int, yield func(U) bool) bool {
			in := func(y func(T) bool) { pd.compute(tc, p, y) }
			tc.current = &m.nodeInfo
			for u := range m.f(in) {
				if !yield(u) {
					return false
				}
				tc.current = &m.nodeInfo
			}
			return true
		}}, nil
}
