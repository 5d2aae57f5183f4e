package runtime

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// State is a key's state as a mapWithState function sees it.
type State[S any] struct {
	value     S
	exists    bool
	updated   bool
	removed   bool
	timingOut bool
}

// Exists reports whether the key has a state.
func (s *State[S]) Exists() bool { return s.exists }

// Get returns the state, or the zero value when there is none.
func (s *State[S]) Get() S { return s.value }

// Update sets the key's state. A key that is timing out cannot be updated.
func (s *State[S]) Update(v S) {
	if s.timingOut {
		Fail(errors.New("the state of a key that is timing out cannot be updated"))
	}
	s.value, s.exists, s.updated, s.removed = v, true, true, false
}

// Remove deletes the key's state.
func (s *State[S]) Remove() {
	var zero S
	s.value, s.exists, s.updated, s.removed = zero, false, false, true
}

// IsTimingOut reports that this call is the key's last: it has been idle for
// the timeout, the value is absent and the state will be removed.
func (s *State[S]) IsTimingOut() bool { return s.timingOut }

// StateSpec configures MapWithState.
type StateSpec[K comparable, V, S, M any] struct {
	// Func runs once per record, in arrival order within each key, with the
	// record's value and the key's state, and returns a mapped record and
	// whether to emit it. On a timeout it runs once more with an absent value
	// and a state that IsTimingOut.
	Func Fn[func(t Time, key K, value Optional[V], state *State[S]) (M, bool)]
	// Timeout, if positive, removes keys that received no record for this
	// long, after one last call.
	Timeout time.Duration
	// Initial, if set, loads the state before the first batch.
	Initial Fn[func() ([]Pair[K, S], error)]
	// Partitions is the number of state partitions (0: the context's parallelism).
	Partitions int
}

// StatefulStream is the result of MapWithState: the stream of mapped
// records, plus access to the state itself.
type StatefulStream[K comparable, V, S, M any] struct {
	Stream[M]
	node *mapWithStateNode[K, V, S, M]
}

// mapWithStateNode keeps a state per key and calls the user function only
// for keys present in the batch (and for keys timing out).
type mapWithStateNode[K comparable, V, S, M any] struct {
	nodeInfo
	memo[M]
	parent  streamNode[Pair[K, V]]
	f       func(Time, K, Optional[V], *State[S]) (M, bool)
	timeout time.Duration
	initial func() ([]Pair[K, S], error)
	parts   int

	mu      sync.Mutex
	stateAt map[Time]*stateBatch[K, S]
}

// stateBatch is the state after one batch: the initial maps, before the
// first batch, or the stage whose tasks wrote each partition's map as a
// block (stateBucket). In a cluster those blocks stay on the executors that
// computed them and are fetched, decoded, by the next batch's task when it
// runs elsewhere.
type stateBatch[K comparable, S any] struct {
	initial []*stateMap[K, S]
	stage   *stage
}

// The blocks of a mapWithState task: what it emitted, and its state map.
const (
	outputBucket = 0
	stateBucket  = 1
)

// MapWithState returns the stream of what spec.Func emits. Unlike
// UpdateStateByKey, a batch costs what it contains: keys without records are
// not visited, except to time them out.
func MapWithState[K comparable, V, S, M any](s Stream[Pair[K, V]], spec StateSpec[K, V, S, M]) StatefulStream[K, V, S, M] {
	ns := NodeSpec{Op: "mapWithState", Params: map[string]string{
		"timeout": spec.Timeout.String(), "partitions": strconv.Itoa(spec.Partitions)}}
	fnMap := fns("f", spec.Func)
	if spec.Initial.name != "" {
		fnMap["initial"] = spec.Initial
	}
	out := unary(s, ns, fnMap, func(b *builder, parent streamNode[Pair[K, V]]) (streamNode[M], error) {
		fn, err := builderFn[func(Time, K, Optional[V], *State[S]) (M, bool)](b, "f")
		if err != nil {
			return nil, err
		}
		n := &mapWithStateNode[K, V, S, M]{parent: parent, f: fn.f, stateAt: map[Time]*stateBatch[K, S]{}}
		if n.timeout, err = b.spec.durationParam("timeout"); err != nil {
			return nil, err
		}
		if n.timeout < 0 {
			return nil, errors.New("timeout must not be negative")
		}
		if n.parts, err = b.partitions(); err != nil {
			return nil, err
		}
		if _, ok := b.spec.Funcs["initial"]; ok {
			init, err := builderFn[func() ([]Pair[K, S], error)](b, "initial")
			if err != nil {
				return nil, err
			}
			n.initial = init.f
		}
		// The state after a batch is computed from the state before it: once
		// that is forgotten, a lost state block cannot be recomputed, so in
		// a cluster the driver keeps a copy of each.
		n.persist, n.selfDependent = true, true
		n.saver = mapWithStateSaver[K, V, S, M]{n}
		return n, nil
	})
	node, _ := out.n.(*mapWithStateNode[K, V, S, M])
	return StatefulStream[K, V, S, M]{Stream: out, node: node}
}

func (m *mapWithStateNode[K, V, S, M]) forget(before Time) {
	m.memo.forget(before)
	m.mu.Lock()
	for t := range m.stateAt {
		if t < before {
			delete(m.stateAt, t)
		}
	}
	m.mu.Unlock()
}

func (m *mapWithStateNode[K, V, S, M]) invalidate(from Time) {
	m.memo.invalidate(from)
	m.mu.Lock()
	for t := range m.stateAt {
		if t >= from {
			delete(m.stateAt, t)
		}
	}
	m.mu.Unlock()
}

// stateFor returns the state after batch t.
func (m *mapWithStateNode[K, V, S, M]) stateFor(t Time) (*stateBatch[K, S], error) {
	if t <= m.ctx.zeroTime {
		return m.initialState()
	}
	m.mu.Lock()
	sb, ok := m.stateAt[t]
	m.mu.Unlock()
	if ok {
		return sb, nil
	}
	if eb, ok := m.ctx.earlierBatch(m.id, t); ok {
		// A worker: the driver said where that batch's state blocks are.
		sb = &stateBatch[K, S]{stage: &stage{key: eb.stage, stream: &m.nodeInfo, time: t, tasks: eb.parts, buckets: 2, state: 2}}
		m.mu.Lock()
		m.stateAt[t] = sb
		m.mu.Unlock()
		return sb, nil
	}
	if _, err := get[M](m, t); err != nil {
		return nil, err
	}
	m.mu.Lock()
	sb, ok = m.stateAt[t]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("state of batch %s is missing", t)
	}
	return sb, nil
}

// partition returns partition p's state map, reading it where its task
// left it: in this process's memory, or as a block elsewhere.
func (sb *stateBatch[K, S]) partition(tc *taskContext, store *blockStore, p int) *stateMap[K, S] {
	if sb.initial != nil {
		return sb.initial[p]
	}
	return getStateBlock[K, S](tc, store, BlockID{Stage: sb.stage.key, Task: p, Bucket: stateBucket})
}

func (m *mapWithStateNode[K, V, S, M]) initialState() (*stateBatch[K, S], error) {
	maps := make([]*stateMap[K, S], m.parts)
	for i := range maps {
		maps[i] = newStateMap[K, S]()
	}
	if m.initial != nil {
		pairs, err := m.initial()
		if err != nil {
			return nil, fmt.Errorf("loading initial state: %w", err)
		}
		for _, kv := range pairs {
			maps[partitionOf(kv.Key, m.parts)].put(kv.Key, kv.Value, m.ctx.zeroTime)
		}
	}
	return &stateBatch[K, S]{initial: maps}, nil
}

func (m *mapWithStateNode[K, V, S, M]) compute(t Time) (*dataset[M], error) {
	self := &m.nodeInfo
	prev, err := m.stateFor(t.Add(-m.slide))
	if err != nil {
		return nil, err
	}
	batch, err := getOrEmpty(m.parent, t, self)
	if err != nil {
		return nil, err
	}
	grouped := combineByKey(self, t, batch, m.parts, groupAgg[V]())
	deps := grouped.stages
	if prev.stage != nil {
		deps = append([]*stage{prev.stage}, deps...)
	}
	store := m.ctx.blocks
	next := &stateBatch[K, S]{}
	next.stage = newStage(self, t, "mapWithState", deps, m.parts, func(tc *taskContext, p int) error {
		sm := prev.partition(tc, store, p).child()
		var out []M
		grouped.compute(tc, p, func(kv Pair[K, []V]) bool {
			for _, v := range kv.Value {
				var st State[S]
				if e, ok := sm.get(kv.Key); ok {
					st.value, st.exists = e.value, true
				}
				tc.current = self
				mapped, emit := m.f(t, kv.Key, Some(v), &st)
				switch {
				case st.removed:
					sm.remove(kv.Key)
				case st.updated || st.exists && m.timeout > 0:
					// With a timeout, a record keeps its key alive even if
					// the function left the state as it was.
					sm.put(kv.Key, st.value, t)
				}
				if emit {
					out = append(out, mapped)
				}
			}
			return true
		})
		if m.timeout > 0 {
			threshold := t.Add(-m.timeout)
			live := sm.flatten()
			for i, k := range live.keys {
				e := live.vals[i]
				if e.updated >= threshold {
					continue
				}
				st := State[S]{value: e.value, exists: true, timingOut: true}
				tc.current = self
				mapped, emit := m.f(t, k, Optional[V]{}, &st)
				sm.remove(k)
				if emit {
					out = append(out, mapped)
				}
			}
		}
		putStateBlock(store, BlockID{Stage: next.stage.key, Task: p, Bucket: stateBucket}, sm.compacted())
		putBlock(store, BlockID{Stage: next.stage.key, Task: p, Bucket: outputBucket}, out)
		return nil
	})
	next.stage.buckets = 2
	m.mu.Lock()
	m.stateAt[t] = next
	m.mu.Unlock()
	return blockDataset[M](self, t, next.stage, m.parts), nil
}

// snapshots is the stream of a mapWithState stream's whole state.
type snapshots[K comparable, V, S, M any] struct {
	nodeInfo
	memo[Pair[K, S]]
	parent *mapWithStateNode[K, V, S, M]
}

// StateSnapshots returns a stream of every key's state after each batch.
func (s StatefulStream[K, V, S, M]) StateSnapshots() Stream[Pair[K, S]] {
	return unary(s.Stream, NodeSpec{Op: "stateSnapshots"}, nil, func(_ *builder, parent streamNode[M]) (streamNode[Pair[K, S]], error) {
		p, ok := parent.(*mapWithStateNode[K, V, S, M])
		if !ok {
			return nil, fmt.Errorf("stateSnapshots needs a mapWithState stream, got %q", parent.info().name)
		}
		s := &snapshots[K, V, S, M]{parent: p}
		s.persist = true
		return s, nil
	})
}

func (s *snapshots[K, V, S, M]) compute(t Time) (*dataset[Pair[K, S]], error) {
	sb, err := s.parent.stateFor(t)
	if err != nil {
		return nil, err
	}
	parts := s.parent.parts
	var stages []*stage
	if sb.stage != nil {
		stages = []*stage{sb.stage}
	}
	store := s.ctx.blocks
	return &dataset[Pair[K, S]]{stream: &s.nodeInfo, time: t, parts: parts, stages: stages, keyParts: parts,
		compute: func(tc *taskContext, p int, yield func(Pair[K, S]) bool) bool {
			live := sb.partition(tc, store, p).flatten()
			for i, k := range live.keys {
				if !yield(Pair[K, S]{Key: k, Value: live.vals[i].value}) {
					return false
				}
			}
			return true
		}}, nil
}

// Named renames the stream and keeps access to its state.
func (s StatefulStream[K, V, S, M]) Named(name string) StatefulStream[K, V, S, M] {
	s.Stream = s.Stream.Named(name)
	return s
}

// statePartitions is how the stream's state is partitioned by key.
func (m *mapWithStateNode[K, V, S, M]) statePartitions() int { return m.parts }
