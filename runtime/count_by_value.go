package runtime

import "strconv"

// countedByValue counts the occurrences of each distinct record.
type countedByValue[T comparable] struct {
	nodeInfo
	memo[Pair[T, int64]]
	parent streamNode[T]
	parts  int
}

// CountByValue returns a stream with one (record, count) pair per distinct
// record and batch.
func CountByValue[T comparable](s Stream[T], partitions int) Stream[Pair[T, int64]] {
	spec := NodeSpec{Op: "countByValue", Params: map[string]string{"partitions": strconv.Itoa(partitions)}}
	return unary(s, spec, nil, func(b *builder, parent streamNode[T]) (streamNode[Pair[T, int64]], error) {
		parts, err := b.partitions()
		if err != nil {
			return nil, err
		}
		return &countedByValue[T]{parent: parent, parts: parts}, nil
	})
}

func (c *countedByValue[T]) compute(t Time) (*dataset[Pair[T, int64]], error) {
	pd, err := get(c.parent, t)
	if err != nil || pd == nil {
		return nil, err
	}
	ones := pipe(&c.nodeInfo, pd, func(_ *taskContext, yield func(Pair[T, int64]) bool) func(T) bool {
		return func(r T) bool { return yield(Pair[T, int64]{Key: r, Value: 1}) }
	})
	return combineByKey(&c.nodeInfo, t, ones, c.parts, aggregator[int64, int64]{
		create:  func(v int64) int64 { return v },
		merge:   func(c, v int64) int64 { return c + v },
		combine: func(a, b int64) int64 { return a + b },
		mapSide: true,
	}), nil
}
