package runtime

import (
	"fmt"
	"strconv"
)

// stateByKey keeps a state per key, updated every batch for every key.
type stateByKey[K comparable, V, S any] struct {
	nodeInfo
	memo[Pair[K, S]]
	parent streamNode[Pair[K, V]]
	update func(values []V, state Optional[S]) (S, bool)
	parts  int
}

// UpdateStateByKey returns the stream of every key's state. Each batch,
// update runs for every key that has a state or new values: it gets the
// key's new values in arrival order (possibly none) and its previous state
// (absent for a new key), and returns the new state, or false to delete the
// key. The cost of a batch grows with the state, not the batch; see
// MapWithState for the alternative. State is partitioned by key into
// partitions partitions (0: the context's parallelism).
func UpdateStateByKey[K comparable, V, S any](s Stream[Pair[K, V]], update Fn[func(values []V, state Optional[S]) (S, bool)], partitions int) Stream[Pair[K, S]] {
	spec := NodeSpec{Op: "updateStateByKey", Params: map[string]string{"partitions": strconv.Itoa(partitions)}}
	return unary(s, spec, fns("update", update), func(b *builder, parent streamNode[Pair[K, V]]) (streamNode[Pair[K, S]], error) {
		fn, err := builderFn[func([]V, Optional[S]) (S, bool)](b, "update")
		if err != nil {
			return nil, err
		}
		parts, err := b.partitions()
		if err != nil {
			return nil, err
		}
		u := &stateByKey[K, V, S]{parent: parent, update: fn.f, parts: parts}
		u.persist, u.selfDependent = true, true
		return u, nil
	})
}

type stateAndValues[V, S any] struct {
	state  Optional[S]
	values []V
}

func (u *stateByKey[K, V, S]) compute(t Time) (*dataset[Pair[K, S]], error) {
	self := &u.nodeInfo
	prev := emptyDataset[Pair[K, S]](self, t, u.parts)
	if prevT := t.Add(-u.slide); prevT > u.ctx.zeroTime {
		p, err := get[Pair[K, S]](u, prevT)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, fmt.Errorf("state of batch %s is missing", prevT)
		}
		prev = p
	}
	batch, err := getOrEmpty(u.parent, t, self)
	if err != nil {
		return nil, err
	}
	grouped := combineByKey(self, t, batch, u.parts, groupAgg[V]())
	stages := append(append([]*stage(nil), prev.stages...), grouped.stages...)
	return &dataset[Pair[K, S]]{stream: self, time: t, parts: u.parts, stages: stages, keyParts: u.parts,
		compute: func(tc *taskContext, p int, yield func(Pair[K, S]) bool) bool {
			om := newOrderedMap[K, stateAndValues[V, S]](256)
			prev.compute(tc, p, func(ks Pair[K, S]) bool {
				slot, _ := om.slot(ks.Key)
				slot.state = Some(ks.Value)
				return true
			})
			grouped.compute(tc, p, func(kv Pair[K, []V]) bool {
				slot, _ := om.slot(kv.Key)
				slot.values = kv.Value
				return true
			})
			for i, k := range om.keys {
				tc.current = self
				s, keep := u.update(om.vals[i].values, om.vals[i].state)
				if keep && !yield(Pair[K, S]{Key: k, Value: s}) {
					return false
				}
			}
			return true
		}}, nil
}

// statePartitions is how the stream's state is partitioned by key.
func (u *stateByKey[K, V, S]) statePartitions() int { return u.parts }
