package runtime

import (
	"context"
	"iter"
)

// foreachBatch hands each whole batch to a user sink.
type foreachBatch[T any] struct {
	outputBase
	parent streamNode[T]
	f      func(Batch[T]) error
}

// ForeachBatch calls f with each batch, materialized, when the batch
// commits: once per batch, in batch order, after the outputs defined before
// it. An error fails the batch. A retried batch calls f again with the same
// records, so f should be idempotent (for example, keyed by Batch.Time).
func (s Stream[T]) ForeachBatch(f Fn[func(Batch[T]) error]) {
	addOutputOp(s, NodeSpec{Op: "foreachBatch"}, fns("f", f), func(b *builder, parent streamNode[T]) (outputNode, error) {
		fn, err := builderFn[func(Batch[T]) error](b, "f")
		if err != nil {
			return nil, err
		}
		return &foreachBatch[T]{parent: parent, f: fn.f}, nil
	})
}

func (o *foreachBatch[T]) prepare(ctx context.Context, t Time) (func(context.Context) error, error) {
	ds, err := get(o.parent, t)
	if err != nil || ds == nil {
		return nil, err
	}
	parts, err := collect(ctx, o.ctx.sched, ds)
	if err != nil {
		return nil, err
	}
	return func(context.Context) error {
		return callUser(&o.nodeInfo, t, func() error { return o.f(Batch[T]{Time: t, Partitions: parts}) })
	}, nil
}

// foreachPartition hands each partition to a user sink, in parallel tasks.
type foreachPartition[T any] struct {
	outputBase
	parent streamNode[T]
	f      func(t Time, partition int, records iter.Seq[T]) error
}

// ForeachPartition calls f once per partition of each batch when the batch
// commits, partitions in parallel tasks, batches in order. Each call streams
// the partition's records, so per-partition setup (a connection) is paid once
// per partition. An error fails the batch; a retried batch calls f again.
//
// With checkpoints, a driver that recovers computes the batches its
// predecessor had not recorded as committed again, and f is called again
// with the same records for the same (t, partition). That pair identifies
// the call: commit idempotently keyed by it (an upsert keyed by batch time
// and partition, or a transaction that records the last batch time it
// committed), and the sink is exactly-once.
func (s Stream[T]) ForeachPartition(f Fn[func(t Time, partition int, records iter.Seq[T]) error]) {
	addOutputOp(s, NodeSpec{Op: "foreachPartition"}, fns("f", f), func(b *builder, parent streamNode[T]) (outputNode, error) {
		fn, err := builderFn[func(Time, int, iter.Seq[T]) error](b, "f")
		if err != nil {
			return nil, err
		}
		return &foreachPartition[T]{parent: parent, f: fn.f}, nil
	})
}

func (o *foreachPartition[T]) prepare(ctx context.Context, t Time) (func(context.Context) error, error) {
	ds, err := get(o.parent, t)
	if err != nil || ds == nil {
		return nil, err
	}
	// Shuffles and persisted parents are computed ahead; only the pipelined
	// tail runs at commit time, inside the user's calls.
	if err := ensureAll(ctx, o.ctx.sched, ds.stages); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		return o.ctx.sched.runTasks(ctx, &o.nodeInfo, t, "foreachPartition", nil, ds.parts, func(tc *taskContext, p int) error {
			records := func(yield func(T) bool) { ds.compute(tc, p, yield) }
			tc.current = &o.nodeInfo
			return o.f(t, p, records)
		})
	}, nil
}

// callUser runs a user sink on the commit path, turning a panic into a
// BatchError like a task's.
func callUser(n *nodeInfo, t Time, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &BatchError{Stream: n.name, Time: t, Err: panicCause(r)}
		}
	}()
	if err := f(); err != nil {
		return &BatchError{Stream: n.name, Time: t, Err: err}
	}
	return nil
}
