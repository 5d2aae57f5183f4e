package runtime

import (
	"context"
)

// dataset is one stream's batch for one time: immutable and partitioned, like
// an RDD. Its records are produced by compute, which pipelines narrow
// operators (map, filter, ...) inside one task. Stages lists the work that
// must be complete before compute may run: shuffle map outputs and
// materialized (persisted) parents.
type dataset[T any] struct {
	stream  *nodeInfo
	time    Time
	parts   int
	stages  []*stage
	compute func(tc *taskContext, p int, yield func(T) bool) bool
	// inMemory is set when the partitions are already materialized, so
	// persisting again would only copy them.
	inMemory bool
	// records counts the materialized records; valid once stages have run.
	records func() int64
	// keyParts, when positive, says the records are pairs hash-partitioned
	// by key into keyParts partitions, so a keyed operator with the same
	// partition count needs no shuffle.
	keyParts int
}

// taskContext is what one running task sees.
type taskContext struct {
	ctx context.Context
	// current is the stream whose code is running, so that a panic is
	// attributed to the operator that raised it rather than to the task.
	current *nodeInfo
	// time is the batch the task belongs to.
	time Time
}

// emptyDataset has the given partition count and no records.
func emptyDataset[T any](n *nodeInfo, t Time, parts int) *dataset[T] {
	return &dataset[T]{stream: n, time: t, parts: parts, compute: func(*taskContext, int, func(T) bool) bool { return true }}
}

// persist returns a dataset whose partitions are computed once, by a stage of
// their own, and then read from memory by every consumer: windows, state and
// outputs read the same batch many times.
func persist[T any](ds *dataset[T]) *dataset[T] {
	store := ds.stream.ctx.blocks
	var st *stage
	st = newStage(ds.stream, ds.time, "persist", ds.stages, ds.parts, func(tc *taskContext, p int) error {
		var out []T
		ds.compute(tc, p, func(r T) bool { out = append(out, r); return true })
		putBlock(store, BlockID{Stage: st.key, Task: p}, out)
		return nil
	})
	out := blockDataset[T](ds.stream, ds.time, st, ds.parts)
	out.keyParts = ds.keyParts
	return out
}

// blockDataset reads the blocks stage st wrote, one per task.
func blockDataset[T any](n *nodeInfo, t Time, st *stage, parts int) *dataset[T] {
	store := n.ctx.blocks
	block := func(tc *taskContext, p int) []T { return getBlock[T](tc, store, BlockID{Stage: st.key, Task: p}) }
	return &dataset[T]{stream: n, time: t, parts: parts, stages: []*stage{st}, inMemory: true,
		records: func() int64 {
			var total int64
			for p := 0; p < parts; p++ {
				total += int64(len(block(nil, p)))
			}
			return total
		},
		compute: func(tc *taskContext, p int, yield func(T) bool) bool {
			for _, r := range block(tc, p) {
				if !yield(r) {
					return false
				}
			}
			return true
		}}
}

// concatDatasets is the union of datasets: their partitions side by side.
func concatDatasets[T any](n *nodeInfo, t Time, dss []*dataset[T]) *dataset[T] {
	var stages []*stage
	var offsets []int
	total := 0
	for _, d := range dss {
		stages = append(stages, d.stages...)
		offsets = append(offsets, total)
		total += d.parts
	}
	return &dataset[T]{stream: n, time: t, parts: total, stages: stages,
		compute: func(tc *taskContext, p int, yield func(T) bool) bool {
			for i := len(dss) - 1; i >= 0; i-- {
				if p >= offsets[i] {
					return dss[i].compute(tc, p-offsets[i], yield)
				}
			}
			return true
		}}
}

// collect runs ds on the scheduler and returns its partitions.
func collect[T any](ctx context.Context, s *scheduler, ds *dataset[T]) ([][]T, error) {
	out := make([][]T, ds.parts)
	err := s.runTasks(ctx, ds.stream, ds.time, "collect", ds.stages, ds.parts, func(tc *taskContext, p int) error {
		var part []T
		ds.compute(tc, p, func(r T) bool { part = append(part, r); return true })
		out[p] = part
		return nil
	})
	return out, err
}
