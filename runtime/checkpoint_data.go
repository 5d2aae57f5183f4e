package runtime

import (
	"context"
	"fmt"
)

// batchSaver saves a checkpointed stream's batches into data checkpoints and
// puts them back on recovery. Every operator gets the typed one; operators
// whose batches are more than their records (mapWithState's state maps)
// provide their own.
type batchSaver interface {
	// blockType names what the stream's blocks hold: a checkpoint saved
	// for other types is refused rather than misread.
	blockType() string
	// pin returns the stage holding the blocks of batch t, computing the
	// batch if nothing has yet (a window's parent at a time no window ends
	// at), and the dataset's key partitioning. A nil stage: no batch at t.
	pin(ctx context.Context, t Time) (st *stage, keyParts int, err error)
	// restore makes a stage of restored blocks the stream's batch at t.
	restore(t Time, st *stage, keyParts int)
}

type typedSaver[T any] struct{ n streamNode[T] }

func (s typedSaver[T]) blockType() string { return typeName[T]() }

func (s typedSaver[T]) pin(ctx context.Context, t Time) (*stage, int, error) {
	in := s.n.info()
	ds, err := get(s.n, t)
	if err != nil || ds == nil {
		return nil, 0, err
	}
	if err := ensureAll(ctx, in.ctx.sched, ds.stages); err != nil {
		return nil, 0, err
	}
	if !ds.inMemory || len(ds.stages) != 1 {
		return nil, 0, fmt.Errorf("stream %q: batch %s is not persisted, so it cannot be checkpointed", in.name, t)
	}
	return ds.stages[0], ds.keyParts, nil
}

func (s typedSaver[T]) restore(t Time, st *stage, keyParts int) {
	ds := blockDataset[T](s.n.info(), t, st, st.tasks)
	ds.keyParts = keyParts
	e := s.n.generated().entry(t)
	e.once.Do(func() { e.ds = ds })
}

// mapWithStateSaver saves both blocks of each mapWithState task: what it
// emitted and the state map after it.
type mapWithStateSaver[K comparable, V, S, M any] struct{ m *mapWithStateNode[K, V, S, M] }

func (s mapWithStateSaver[K, V, S, M]) blockType() string {
	return typeName[M]() + " with state " + typeName[Pair[K, S]]()
}

func (s mapWithStateSaver[K, V, S, M]) pin(ctx context.Context, t Time) (*stage, int, error) {
	if _, err := get[M](s.m, t); err != nil {
		return nil, 0, err
	}
	sb, err := s.m.stateFor(t)
	if err != nil || sb.stage == nil {
		return nil, 0, err
	}
	if err := sb.stage.ensure(ctx, s.m.ctx.sched); err != nil {
		return nil, 0, err
	}
	return sb.stage, s.m.parts, nil
}

func (s mapWithStateSaver[K, V, S, M]) restore(t Time, st *stage, _ int) {
	s.m.mu.Lock()
	s.m.stateAt[t] = &stateBatch[K, S]{stage: st}
	s.m.mu.Unlock()
	typedSaver[M]{s.m}.restore(t, st, 0)
}

// restoredStage makes a finished stage of a stream's batch at t out of
// blocks read from a checkpoint: blocks[task][bucket].
func (c *Context) restoredStage(n *nodeInfo, t Time, blocks [][][]byte) *stage {
	buckets := 1
	if len(blocks) > 0 {
		buckets = len(blocks[0])
	}
	st := newStage(n, t, "restored", nil, len(blocks), nil)
	st.buckets = buckets
	st.driverOnly = true
	for task, bs := range blocks {
		for b, data := range bs {
			c.blocks.putRaw(BlockID{Stage: st.key, Task: task, Bucket: b}, data)
		}
	}
	st.markDone()
	return st
}

// pinnedBlock returns a function that encodes one block, reading nothing
// that a later batch can change or drop: a block held here is immutable and
// encoded later; a block held elsewhere is fetched now, before the process
// holding it forgets it.
func (c *Context) pinnedBlock(ctx context.Context, id BlockID) (func() ([]byte, error), error) {
	s := c.blocks
	s.mu.RLock()
	b, typed := s.blocks[id]
	raw, isRaw := s.raw[id]
	addr, remote := s.locations[taskLocation{id.Stage, id.Task}]
	s.mu.RUnlock()
	switch {
	case typed:
		return b.encode, nil
	case isRaw:
		return func() ([]byte, error) { return raw, nil }, nil
	case remote && s.fetch != nil:
		data, err := s.fetch(ctx, addr, id)
		if err != nil {
			return nil, &MissingBlockError{ID: id, Address: addr, Err: err}
		}
		return func() ([]byte, error) { return data, nil }, nil
	}
	return nil, &MissingBlockError{ID: id}
}
