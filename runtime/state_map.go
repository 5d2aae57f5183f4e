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
