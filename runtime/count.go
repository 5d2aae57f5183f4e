package runtime

// counted counts each batch's records.
type counted[T any] struct {
	nodeInfo
	memo[int64]
	parent streamNode[T]
}

// Count returns a stream with one record per batch: the number of records
// in the parent's batch (0 for an empty batch).
func (s Stream[T]) Count() Stream[int64] {
	return unary(s, NodeSpec{Op: "count"}, nil, func(_ *builder, parent streamNode[T]) (streamNode[int64], error) {
		return &counted[T]{parent: parent}, nil
	})
}

func (c *counted[T]) compute(t Time) (*dataset[int64], error) {
	pd, err := getOrEmpty(c.parent, t, &c.nodeInfo)
	if err != nil {
		return nil, err
	}
	return aggregateAll(&c.nodeInfo, pd,
		func() int64 { return 0 },
		func(n int64, _ T) int64 { return n + 1 },
		func(a, b int64) int64 { return a + b },
		func(int64) bool { return true }), nil
}
