package runtime

import (
	"fmt"
	"sync"
	"time"
)

// nodeInfo is what every stream in the graph knows about itself.
type nodeInfo struct {
	ctx     *Context
	id      int
	name    string
	spec    NodeSpec
	parents []node
	// slide is the interval between this stream's batches: the batch
	// interval, or a window's slide.
	slide time.Duration
	// remember is how far back this stream's batches must stay available,
	// because a window or a state operator downstream reads them again.
	remember time.Duration
	// persist makes each batch materialize once and be read from memory by
	// every consumer, rather than being recomputed from lineage.
	persist bool

	// selfDependent marks streams whose batch is computed from their own
	// previous batch (incremental windows, updateStateByKey, mapWithState). That batch is
	// forgotten once committed, so a lost block of theirs could not be
	// recomputed: in a cluster the driver keeps a copy of each.
	selfDependent bool
	// checkpointed streams have batches that later batches read: self-
	// dependent streams and the parents of windows. Data checkpoints save
	// their remembered batches; everything else is recomputed from them.
	checkpointed bool
	// saver saves and restores the stream's batches in data checkpoints.
	saver batchSaver
	// savedAs names the stream's batches in data checkpoints: its name, or
	// for a stream the job did not name (the inner streams of an operator
	// such as reduceByKeyAndWindow) the path to it from the stream it
	// feeds, which does not change when streams are added elsewhere.
	savedAs string
	// materialize builds the stream's dataset for t (lazily): the erased
	// form of get, for workers resolving a stage key.
	materialize func(t Time) error

	// stageLog holds the stages created for each remembered batch time, in
	// creation order: a StageKey's ordinal indexes it.
	stageMu  sync.Mutex
	stageLog map[Time][]*stage
}

func (n *nodeInfo) logStage(t Time, st *stage) StageKey {
	n.stageMu.Lock()
	defer n.stageMu.Unlock()
	if n.stageLog == nil {
		n.stageLog = map[Time][]*stage{}
	}
	n.stageLog[t] = append(n.stageLog[t], st)
	return StageKey{Node: n.id, Time: t, Ordinal: len(n.stageLog[t]) - 1}
}

// stageByKey returns a logged stage.
func (n *nodeInfo) stageByKey(k StageKey) (*stage, bool) {
	n.stageMu.Lock()
	defer n.stageMu.Unlock()
	log := n.stageLog[k.Time]
	if k.Ordinal < 0 || k.Ordinal >= len(log) {
		return nil, false
	}
	return log[k.Ordinal], true
}

// dropStages forgets the stages of the times drop selects.
func (n *nodeInfo) dropStages(drop func(Time) bool) {
	n.stageMu.Lock()
	defer n.stageMu.Unlock()
	for t, log := range n.stageLog {
		if drop(t) {
			for _, st := range log {
				n.ctx.blocks.dropStage(st.key, st.tasks, st.buckets)
				st.mu.Lock()
				st.deps = nil
				st.mu.Unlock()
			}
			delete(n.stageLog, t)
		}
	}
}

func (n *nodeInfo) info() *nodeInfo { return n }

// validTime reports whether the stream has a batch at t.
func (n *nodeInfo) validTime(t Time) bool {
	z := n.ctx.zeroTime
	return t > z && t.Sub(z)%n.slide == 0
}

// needRemember raises how long this stream keeps its batches.
func (n *nodeInfo) needRemember(d time.Duration) {
	if d > n.remember {
		n.remember = d
	}
}

// node is the type-erased view of a stream, used by the graph, the scheduler
// and the memory manager.
type node interface {
	info() *nodeInfo
	// forget drops the stream's batches older than before.
	forget(before Time)
	// invalidate drops the stream's batches at from and later, so that a
	// retried batch is recomputed from lineage.
	invalidate(from Time)
}

// streamNode is a stream of T: an operator that can compute its batch for t.
type streamNode[T any] interface {
	node
	// compute builds the (lazy) dataset of the batch at t from the parents'
	// datasets. It is called at most once per t; use get to read a batch.
	compute(t Time) (*dataset[T], error)
	generated() *memo[T]
}

// memo holds the batches a stream has generated, keyed by time.
type memo[T any] struct {
	mu      sync.Mutex
	batches map[Time]*memoEntry[T]
}

type memoEntry[T any] struct {
	once sync.Once
	ds   *dataset[T]
	err  error
}

func (m *memo[T]) generated() *memo[T] { return m }

func (m *memo[T]) entry(t Time) *memoEntry[T] {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.batches == nil {
		m.batches = make(map[Time]*memoEntry[T])
	}
	e, ok := m.batches[t]
	if !ok {
		e = &memoEntry[T]{}
		m.batches[t] = e
	}
	return e
}

func (m *memo[T]) forget(before Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t := range m.batches {
		if t < before {
			delete(m.batches, t)
		}
	}
}

func (m *memo[T]) invalidate(from Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t := range m.batches {
		if t >= from {
			delete(m.batches, t)
		}
	}
}

// get returns the stream's batch at t, computing it on first use, as Spark's
// DStream.getOrCompute does. It returns nil when the stream has no batch at t
// (a window that slides by several batch intervals).
func get[T any](n streamNode[T], t Time) (*dataset[T], error) {
	in := n.info()
	if !in.validTime(t) {
		return nil, nil
	}
	if in.checkpointed {
		if eb, ok := in.ctx.earlierBatch(in.id, t); ok {
			// A worker: read the batch the driver pointed to rather than
			// rebuilding its lineage, which may start at a checkpoint only
			// the driver restored. The view is not remembered: a task may
			// still be sent to compute a lost partition of that batch.
			ds := blockDataset[T](in, t, &stage{key: eb.stage, stream: in, time: t, tasks: eb.parts, buckets: 1, state: 2}, eb.parts)
			ds.keyParts = eb.parts
			return ds, nil
		}
	}
	e := n.generated().entry(t)
	e.once.Do(func() {
		ds, err := n.compute(t)
		if err != nil {
			if _, ok := err.(*BatchError); !ok {
				err = &BatchError{Stream: in.name, Time: t, Err: err}
			}
		} else if ds != nil && in.persist && !ds.inMemory {
			ds = persist(ds)
		}
		e.ds, e.err = ds, err
	})
	if e.err != nil && in.ctx.work.active.Load() {
		// A worker may have lacked what the driver sends with a later
		// task (where an earlier batch is): let that task build it again.
		n.generated().forgetEntry(t, e)
	}
	return e.ds, e.err
}

// forgetEntry drops t's entry if it is still e.
func (m *memo[T]) forgetEntry(t Time, e *memoEntry[T]) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.batches[t] == e {
		delete(m.batches, t)
	}
}

// getOrEmpty is get for operators that need a dataset even when the parent
// has none at t.
func getOrEmpty[T any](n streamNode[T], t Time, self *nodeInfo) (*dataset[T], error) {
	ds, err := get(n, t)
	if err != nil || ds != nil {
		return ds, err
	}
	return emptyDataset[T](self, t, 0), nil
}

// Stream is a discretized stream of T: one immutable, partitioned dataset per
// batch. Build streams from a Context's sources and the operators in this
// package; nothing runs until Context.Start.
type Stream[T any] struct {
	n streamNode[T]
}

// Name returns the stream's name, unique within its context. Errors and
// metrics use it.
func (s Stream[T]) Name() string { return s.n.info().name }

// Named renames the stream. Names must be unique within a context; a
// duplicate is reported by Start.
func (s Stream[T]) Named(name string) Stream[T] {
	in := s.n.info()
	in.ctx.rename(in, name)
	return s
}

// Context returns the context the stream belongs to.
func (s Stream[T]) Context() *Context { return s.n.info().ctx }

func (s Stream[T]) String() string { return fmt.Sprintf("Stream(%s)", s.Name()) }
