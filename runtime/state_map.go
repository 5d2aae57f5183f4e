package runtime

// stateMap is one batch's state for one partition of a mapWithState stream.
// It is immutable once its batch is computed: the next batch's map is a
// child holding only the keys that batch changed, so a batch costs what it
// touches rather than the whole state, and any batch can be recomputed from
// its parent map. Chains are flattened every stateMapMaxDepth batches.
type stateMap[K comparable, S any] struct {
	parent *stateMap[K, S]
	delta  *orderedMap[K, stateEntry[S]]
	depth  int
}

type stateEntry[S any] struct {
	value   S
	updated Time
	deleted bool
}

const stateMapMaxDepth = 16

func newStateMap[K comparable, S any]() *stateMap[K, S] {
	return &stateMap[K, S]{delta: newOrderedMap[K, stateEntry[S]](0)}
}

func (m *stateMap[K, S]) child() *stateMap[K, S] {
	return &stateMap[K, S]{parent: m, delta: newOrderedMap[K, stateEntry[S]](16), depth: m.depth + 1}
}

func (m *stateMap[K, S]) get(k K) (stateEntry[S], bool) {
	for cur := m; cur != nil; cur = cur.parent {
		if e, ok := cur.delta.get(k); ok {
			return e, !e.deleted
		}
	}
	return stateEntry[S]{}, false
}

func (m *stateMap[K, S]) put(k K, v S, t Time) {
	slot, _ := m.delta.slot(k)
	*slot = stateEntry[S]{value: v, updated: t}
}

func (m *stateMap[K, S]) remove(k K) {
	slot, _ := m.delta.slot(k)
	*slot = stateEntry[S]{deleted: true}
}

// flatten returns every live key and entry, ordered by first insertion.
func (m *stateMap[K, S]) flatten() *orderedMap[K, stateEntry[S]] {
	var levels []*stateMap[K, S]
	for cur := m; cur != nil; cur = cur.parent {
		levels = append(levels, cur)
	}
	merged := newOrderedMap[K, stateEntry[S]](levels[len(levels)-1].delta.len())
	for i := len(levels) - 1; i >= 0; i-- {
		d := levels[i].delta
		for j, k := range d.keys {
			slot, _ := merged.slot(k)
			*slot = d.vals[j]
		}
	}
	live := newOrderedMap[K, stateEntry[S]](merged.len())
	for i, k := range merged.keys {
		if !merged.vals[i].deleted {
			slot, _ := live.slot(k)
			*slot = merged.vals[i]
		}
	}
	return live
}

// compacted returns m, or an equivalent root map when the chain is deep.
func (m *stateMap[K, S]) compacted() *stateMap[K, S] {
	if m.depth < stateMapMaxDepth {
		return m
	}
	return &stateMap[K, S]{delta: m.flatten()}
}

// putStateBlock stores a partition's state map as a block. This process
// reads it in place; it is flattened and encoded only when another process
// fetches it.
func putStateBlock[K comparable, S any](s *blockStore, id BlockID, m *stateMap[K, S]) {
	s.mu.Lock()
	s.blocks[id] = storedBlock{records: m, encode: func() ([]byte, error) { return EncodeRecords(m.entries()) }}
	s.mu.Unlock()
}

// getStateBlock returns a partition's state map, rebuilding it from its
// encoded entries when it was written by another process.
func getStateBlock[K comparable, S any](tc *taskContext, s *blockStore, id BlockID) *stateMap[K, S] {
	s.mu.RLock()
	b, ok := s.blocks[id]
	s.mu.RUnlock()
	if ok {
		if m, ok := b.records.(*stateMap[K, S]); ok {
			return m
		}
	}
	m := stateMapOf(getBlock[Pair[K, Pair[S, int64]]](tc, s, id))
	putStateBlock(s, id, m)
	return m
}

// entries lists the live keys with their state and update time, ordered by
// first insertion: the state map's form on the wire.
func (m *stateMap[K, S]) entries() []Pair[K, Pair[S, int64]] {
	live := m.flatten()
	out := make([]Pair[K, Pair[S, int64]], len(live.keys))
	for i, k := range live.keys {
		out[i] = Pair[K, Pair[S, int64]]{Key: k, Value: Pair[S, int64]{Key: live.vals[i].value, Value: int64(live.vals[i].updated)}}
	}
	return out
}

// stateMapOf rebuilds a state map from its entries.
func stateMapOf[K comparable, S any](entries []Pair[K, Pair[S, int64]]) *stateMap[K, S] {
	m := &stateMap[K, S]{delta: newOrderedMap[K, stateEntry[S]](len(entries))}
	for _, e := range entries {
		m.put(e.Key, e.Value.Key, Time(e.Value.Value))
	}
	return m
}
