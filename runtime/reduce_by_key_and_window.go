package runtime

import (
	"strconv"
	"time"
)

// reducedWindowed is the incremental windowed reduce: the window at t is the
// window at t-slide, minus the batches that left it (inverse), plus the
// batches that entered it (reduce), as in Spark's ReducedWindowedDStream.
type reducedWindowed[K comparable, V any] struct {
	nodeInfo
	memo[Pair[K, V]]
	parent  streamNode[Pair[K, V]]
	length  time.Duration
	reduce  func(V, V) V
	inverse func(V, V) V
	keep    func(Pair[K, V]) bool
	parts   int
}

// ReduceByKeyAndWindowInv is ReduceByKeyAndWindow computed incrementally:
// inverse must undo reduce (reduce(inverse(a, b), b) == a, like + and -). Each
// slide costs the batches entering and leaving the window rather than the
// whole window. keep, if its name is not empty, drops keys whose value it
// rejects (for example a count back to zero), so expired keys do not pile
// up in the window's state.
//
// Each batch is first reduced by key (a stream of its own in the graph), and
// the window keeps those per-batch results, already partitioned like the
// window, so entering and leaving batches are merged without a shuffle.
func ReduceByKeyAndWindowInv[K comparable, V any](s Stream[Pair[K, V]], reduce, inverse Fn[func(V, V) V], keep Fn[func(Pair[K, V]) bool],
	length, slide time.Duration, partitions int) Stream[Pair[K, V]] {
	s = ReduceByKey(s, reduce, partitions)
	spec := windowSpec("reduceByKeyAndWindowInv", length, slide)
	spec.Params["partitions"] = strconv.Itoa(partitions)
	fnMap := fns("reduce", reduce, "inverse", inverse)
	if keep.name != "" {
		fnMap["keep"] = keep
	}
	return unary(s, spec, fnMap, func(b *builder, parent streamNode[Pair[K, V]]) (streamNode[Pair[K, V]], error) {
		length, slide, err := windowParams(b)
		if err != nil {
			return nil, err
		}
		r, err := builderFn[func(V, V) V](b, "reduce")
		if err != nil {
			return nil, err
		}
		inv, err := builderFn[func(V, V) V](b, "inverse")
		if err != nil {
			return nil, err
		}
		parts, err := b.partitions()
		if err != nil {
			return nil, err
		}
		w := &reducedWindowed[K, V]{parent: parent, length: length, reduce: r.f, inverse: inv.f, parts: parts}
		if _, ok := b.spec.Funcs["keep"]; ok {
			k, err := builderFn[func(Pair[K, V]) bool](b, "keep")
			if err != nil {
				return nil, err
			}
			w.keep = k.f
		}
		w.slide = slide
		w.persist, w.selfDependent = true, true
		parent.info().persist = true
		return w, nil
	})
}

func (w *reducedWindowed[K, V]) parentLookback() time.Duration { return w.length + w.slide }

func (w *reducedWindowed[K, V]) compute(t Time) (*dataset[Pair[K, V]], error) {
	self := &w.nodeInfo
	prevT := t.Add(-w.slide)
	if prevT <= w.ctx.zeroTime {
		return w.fromScratch(t)
	}
	prev, err := get[Pair[K, V]](w, prevT)
	if err != nil {
		return nil, err
	}
	entering, err := batchesIn(w.parent, prevT, t)
	if err != nil {
		return nil, err
	}
	leaving, err := batchesIn(w.parent, prevT.Add(-w.length), t.Add(-w.length))
	if err != nil {
		return nil, err
	}
	entering, leaving = w.aligned(t, entering), w.aligned(t, leaving)
	stages := append([]*stage(nil), prev.stages...)
	for _, ds := range append(append([]*dataset[Pair[K, V]](nil), entering...), leaving...) {
		stages = append(stages, ds.stages...)
	}
	return &dataset[Pair[K, V]]{stream: self, time: t, parts: w.parts, stages: stages, keyParts: w.parts,
		compute: func(tc *taskContext, p int, yield func(Pair[K, V]) bool) bool {
			om := newOrderedMap[K, V](256)
			prev.compute(tc, p, func(kv Pair[K, V]) bool {
				v, _ := om.slot(kv.Key)
				*v = kv.Value
				return true
			})
			for _, ds := range leaving {
				ds.compute(tc, p, func(kv Pair[K, V]) bool {
					tc.current = self
					v, ok := om.slot(kv.Key)
					if !ok {
						// A key leaving the window that the previous window did
						// not hold was dropped by keep; undoing it from
						// nothing would be wrong.
						abortTask(errInverseUnknownKey)
					}
					*v = w.inverse(*v, kv.Value)
					return true
				})
			}
			for _, ds := range entering {
				w.reduceInto(tc, om, ds, p)
			}
			return w.emit(om, yield)
		}}, nil
}

// aligned returns the batches partitioned like the window, reshuffling any
// that are not (the parent is normally a reduceByKey with the same count).
func (w *reducedWindowed[K, V]) aligned(at Time, dss []*dataset[Pair[K, V]]) []*dataset[Pair[K, V]] {
	out := make([]*dataset[Pair[K, V]], len(dss))
	for i, ds := range dss {
		out[i] = combineByKey(&w.nodeInfo, at, ds, w.parts, reduceAgg(w.reduce))
	}
	return out
}

func (w *reducedWindowed[K, V]) reduceInto(tc *taskContext, om *orderedMap[K, V], ds *dataset[Pair[K, V]], p int) {
	ds.compute(tc, p, func(kv Pair[K, V]) bool {
		tc.current = &w.nodeInfo
		if v, ok := om.slot(kv.Key); ok {
			*v = w.reduce(*v, kv.Value)
		} else {
			*v = kv.Value
		}
		return true
	})
}

// fromScratch computes the first window (or one after the previous window
// was forgotten) by reducing every batch in it.
func (w *reducedWindowed[K, V]) fromScratch(t Time) (*dataset[Pair[K, V]], error) {
	dss, err := batchesIn(w.parent, t.Add(-w.length), t)
	if err != nil {
		return nil, err
	}
	dss = w.aligned(t, dss)
	var stages []*stage
	for _, ds := range dss {
		stages = append(stages, ds.stages...)
	}
	return &dataset[Pair[K, V]]{stream: &w.nodeInfo, time: t, parts: w.parts, stages: stages, keyParts: w.parts,
		compute: func(tc *taskContext, p int, yield func(Pair[K, V]) bool) bool {
			om := newOrderedMap[K, V](256)
			for _, ds := range dss {
				w.reduceInto(tc, om, ds, p)
			}
			return w.emit(om, yield)
		}}, nil
}

func (w *reducedWindowed[K, V]) emit(om *orderedMap[K, V], yield func(Pair[K, V]) bool) bool {
	for i, k := range om.keys {
		kv := Pair[K, V]{Key: k, Value: om.vals[i]}
		if w.keep != nil && !w.keep(kv) {
			continue
		}
		if !yield(kv) {
			return false
		}
	}
	return true
}

var errInverseUnknownKey = errBadWindow("a key left the window that the previous window did not hold; the keep function dropped a key that still had values in the window")

type errBadWindow string

func (e errBadWindow) Error() string { return string(e) }

// statePartitions is how the stream's state is partitioned by key.
func (w *reducedWindowed[K, V]) statePartitions() int { return w.parts }
