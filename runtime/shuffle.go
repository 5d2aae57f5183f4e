package runtime

import (
	"fmt"
	"math"
	"reflect"
)

// orderedMap is a hash map that remembers first-insertion order, so that
// everything built from it (shuffle outputs, state) comes out in the same
// order on every run: recomputation is deterministic partition for partition.
type orderedMap[K comparable, V any] struct {
	index map[K]int
	keys  []K
	vals  []V
}

func newOrderedMap[K comparable, V any](hint int) *orderedMap[K, V] {
	return &orderedMap[K, V]{index: make(map[K]int, hint)}
}

func (m *orderedMap[K, V]) get(k K) (V, bool) {
	if i, ok := m.index[k]; ok {
		return m.vals[i], true
	}
	var zero V
	return zero, false
}

// slot returns a pointer to k's value, inserting zero if absent.
func (m *orderedMap[K, V]) slot(k K) (v *V, existed bool) {
	i, ok := m.index[k]
	if !ok {
		i = len(m.keys)
		m.index[k] = i
		m.keys = append(m.keys, k)
		var zero V
		m.vals = append(m.vals, zero)
	}
	return &m.vals[i], ok
}

func (m *orderedMap[K, V]) len() int { return len(m.keys) }

// hashKey is the partitioner's hash. It must be the same in every process
// (executors and a restarted driver compute the same partitions), so it
// cannot use Go's seeded map hash.
func hashKey[K comparable](k K) uint64 {
	switch v := any(k).(type) {
	case string:
		return hashString(v)
	case int:
		return mix64(uint64(v))
	case int64:
		return mix64(uint64(v))
	case int32:
		return mix64(uint64(v))
	case uint64:
		return mix64(v)
	case uint32:
		return mix64(uint64(v))
	case bool:
		if v {
			return mix64(1)
		}
		return mix64(0)
	case float64:
		if v == 0 {
			v = 0 // +0 and -0 are equal keys
		}
		return mix64(math.Float64bits(v))
	case nil:
		return 0
	default:
		return hashOther(v)
	}
}

// hashOther hashes composite keys (structs, arrays, pairs) through their
// printed form, which is deterministic for comparable values.
func hashOther(v any) uint64 {
	rv := reflect.ValueOf(v)
	if !rv.Comparable() {
		Fail(fmt.Errorf("key of type %T cannot be used as a key: it is not comparable", v))
	}
	return hashString(fmt.Sprintf("%T|%#v", v, v))
}

// hashString is FNV-1a, finished with a mix so that low bits spread well.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func partitionOf[K comparable](k K, parts int) int { return int(hashKey(k) % uint64(parts)) }

// keyChecker returns a check for keys of an interface type (the dynamic
// records of manifests), whose values may turn out not to be hashable, such
// as a map from a CEL expression; Go's map would crash on them. For concrete
// key types the compiler has already checked, and it returns nil.
func keyChecker[K comparable]() func(K) {
	if reflect.TypeFor[K]().Kind() != reflect.Interface {
		return nil
	}
	return func(k K) {
		switch any(k).(type) {
		case nil, string, int, int64, float64, bool, uint64, int32:
			return
		}
		if t := reflect.TypeOf(any(k)); !t.Comparable() {
			Fail(fmt.Errorf("a %s cannot be a key: keys must be strings, numbers, booleans or other comparable values", t))
		}
	}
}

// aggregator combines the values of one key, as Spark's Aggregator: create
// starts a combiner from the first value, merge adds a value, and combine
// merges two combiners (from different map tasks).
type aggregator[V, C any] struct {
	create  func(V) C
	merge   func(C, V) C
	combine func(C, C) C
	// mapSide combines within each map task before the shuffle. It pays off
	// for reductions; grouping gains nothing from it.
	mapSide bool
}

// combineByKey hash-partitions a pair dataset into parts partitions and
// combines the values of each key. Keys come out in first-seen order (map
// task order, then record order), so the result is deterministic. If the
// input is already partitioned that way, the combine happens in place;
// otherwise the map side is a stage of its own and the result reads its
// output. at is the batch time of the computation that asks for the
// combine: it keys the stage, which may combine an older batch (a window).
func combineByKey[K comparable, V, C any](self *nodeInfo, at Time, pd *dataset[Pair[K, V]], parts int, agg aggregator[V, C]) *dataset[Pair[K, C]] {
	if parts <= 0 {
		parts = self.ctx.cfg.Parallelism
	}
	if pd.keyParts == parts {
		check := keyChecker[K]()
		return &dataset[Pair[K, C]]{stream: self, time: pd.time, parts: parts, stages: pd.stages, keyParts: parts,
			compute: func(tc *taskContext, p int, yield func(Pair[K, C]) bool) bool {
				om := newOrderedMap[K, C](64)
				pd.compute(tc, p, combineInto(tc, self, om, agg, check))
				return emitOrdered(om, yield)
			}}
	}
	return shuffleByKey(self, at, pd, parts, agg)
}

// combineInto returns the per-record step of a combine: check the key,
// then start or extend its combiner.
func combineInto[K comparable, V, C any](tc *taskContext, self *nodeInfo, om *orderedMap[K, C], agg aggregator[V, C], check func(K)) func(Pair[K, V]) bool {
	return func(kv Pair[K, V]) bool {
		tc.current = self
		if check != nil {
			check(kv.Key)
		}
		if c, existed := om.slot(kv.Key); existed {
			*c = agg.merge(*c, kv.Value)
		} else {
			*c = agg.create(kv.Value)
		}
		return true
	}
}

func shuffleByKey[K comparable, V, C any](self *nodeInfo, t Time, pd *dataset[Pair[K, V]], parts int, agg aggregator[V, C]) *dataset[Pair[K, C]] {
	store := self.ctx.blocks
	check := keyChecker[K]()
	var mapStage *stage
	mapStage = newStage(self, t, "shuffle", pd.stages, pd.parts, func(tc *taskContext, m int) error {
		buckets := make([][]Pair[K, C], parts)
		if agg.mapSide {
			// One map for the whole task: the partitioner's hash is then
			// computed once per distinct key instead of once per record.
			om := newOrderedMap[K, C](256)
			pd.compute(tc, m, combineInto(tc, self, om, agg, check))
			for i, k := range om.keys {
				r := partitionOf(k, parts)
				buckets[r] = append(buckets[r], Pair[K, C]{Key: k, Value: om.vals[i]})
			}
		} else {
			pd.compute(tc, m, func(kv Pair[K, V]) bool {
				tc.current = self
				if check != nil {
					check(kv.Key)
				}
				r := partitionOf(kv.Key, parts)
				buckets[r] = append(buckets[r], Pair[K, C]{Key: kv.Key, Value: agg.create(kv.Value)})
				return true
			})
		}
		for r, b := range buckets {
			putBlock(store, BlockID{Stage: mapStage.key, Task: m, Bucket: r}, b)
		}
		return nil
	})
	mapStage.buckets = parts
	return &dataset[Pair[K, C]]{stream: self, time: t, parts: parts, stages: []*stage{mapStage}, keyParts: parts,
		compute: func(tc *taskContext, p int, yield func(Pair[K, C]) bool) bool {
			om := newOrderedMap[K, C](64)
			for m := 0; m < pd.parts; m++ {
				for _, kc := range getBlock[Pair[K, C]](tc, store, BlockID{Stage: mapStage.key, Task: m, Bucket: p}) {
					tc.current = self
					if c, existed := om.slot(kc.Key); existed {
						*c = agg.combine(*c, kc.Value)
					} else {
						*c = kc.Value
					}
				}
			}
			return emitOrdered(om, yield)
		}}
}

func emitOrdered[K comparable, V any](om *orderedMap[K, V], yield func(Pair[K, V]) bool) bool {
	for i, k := range om.keys {
		if !yield(Pair[K, V]{Key: k, Value: om.vals[i]}) {
			return false
		}
	}
	return true
}

// groupAgg collects values into slices in arrival order.
func groupAgg[V any]() aggregator[V, []V] {
	return aggregator[V, []V]{
		create:  func(v V) []V { return []V{v} },
		merge:   func(c []V, v V) []V { return append(c, v) },
		combine: func(a, b []V) []V { return append(a, b...) },
	}
}

// reduceAgg reduces values with f, combining on the map side.
func reduceAgg[V any](f func(V, V) V) aggregator[V, V] {
	return aggregator[V, V]{
		create:  func(v V) V { return v },
		merge:   f,
		combine: f,
		mapSide: true,
	}
}

// aggregateAll folds every record of a dataset into one value: per
// partition in parallel tasks, then across partitions in partition order. The
// result has one partition holding the value, or no record when emit says so.
func aggregateAll[T, A any](self *nodeInfo, pd *dataset[T], zero func() A, seq func(A, T) A, comb func(A, A) A, emit func(A) bool) *dataset[A] {
	store := self.ctx.blocks
	var st *stage
	st = newStage(self, pd.time, "aggregate", pd.stages, pd.parts, func(tc *taskContext, p int) error {
		acc := zero()
		pd.compute(tc, p, func(r T) bool {
			tc.current = self
			acc = seq(acc, r)
			return true
		})
		putBlock(store, BlockID{Stage: st.key, Task: p}, []A{acc})
		return nil
	})
	return &dataset[A]{stream: self, time: pd.time, parts: 1, stages: []*stage{st},
		compute: func(tc *taskContext, _ int, yield func(A) bool) bool {
			acc := zero()
			for p := 0; p < pd.parts; p++ {
				tc.current = self
				acc = comb(acc, getBlock[A](tc, store, BlockID{Stage: st.key, Task: p})[0])
			}
			if emit(acc) {
				return yield(acc)
			}
			return true
		}}
}
