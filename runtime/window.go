package runtime

import (
	"fmt"
	"time"
)

// windowed holds, at each slide, every batch of the parent within the window.
type windowed[T any] struct {
	nodeInfo
	memo[T]
	parent streamNode[T]
	length time.Duration
}

// Window returns a stream whose batch at t holds every record of the parent's
// batches in (t-length, t]. It has a batch every slide. Both must be
// multiples of the parent's slide (the batch interval for most streams);
// otherwise building the graph fails, naming the stream.
func (s Stream[T]) Window(length, slide time.Duration) Stream[T] {
	return unary(s, windowSpec("window", length, slide), nil, func(b *builder, parent streamNode[T]) (streamNode[T], error) {
		length, slide, err := windowParams(b)
		if err != nil {
			return nil, err
		}
		w := &windowed[T]{parent: parent, length: length}
		w.slide = slide
		parent.info().persist = true
		return w, nil
	})
}

func (w *windowed[T]) parentLookback() time.Duration { return w.length }

func (w *windowed[T]) compute(t Time) (*dataset[T], error) {
	dss, err := batchesIn(w.parent, t.Add(-w.length), t)
	if err != nil {
		return nil, err
	}
	return concatDatasets(&w.nodeInfo, t, dss), nil
}

// batchesIn returns the parent's batches in (from, to].
func batchesIn[T any](parent streamNode[T], from, to Time) ([]*dataset[T], error) {
	step := parent.info().slide
	var dss []*dataset[T]
	for pt := to; pt > from; pt = pt.Add(-step) {
		if pt <= parent.info().ctx.zeroTime {
			break
		}
		ds, err := get(parent, pt)
		if err != nil {
			return nil, err
		}
		if ds != nil {
			dss = append(dss, ds)
		}
	}
	// Oldest batch first, so that records keep their arrival order.
	for i, j := 0, len(dss)-1; i < j; i, j = i+1, j-1 {
		dss[i], dss[j] = dss[j], dss[i]
	}
	return dss, nil
}

func windowSpec(op string, length, slide time.Duration) NodeSpec {
	return NodeSpec{Op: op, Params: map[string]string{"window": length.String(), "slide": slide.String()}}
}

// windowParams reads and checks a window's length and slide against its
// parent's slide.
func windowParams(b *builder) (length, slide time.Duration, err error) {
	if length, err = b.spec.durationParam("window"); err != nil {
		return 0, 0, err
	}
	if slide, err = b.spec.durationParam("slide"); err != nil {
		return 0, 0, err
	}
	unit := b.ctx.cfg.BatchInterval
	if len(b.parents) > 0 {
		unit = b.parents[0].info().slide
	}
	if !isMultiple(length, unit) {
		return 0, 0, fmt.Errorf("window length %s is not a positive multiple of the batch interval %s", length, unit)
	}
	if !isMultiple(slide, unit) {
		return 0, 0, fmt.Errorf("window slide %s is not a positive multiple of the batch interval %s", slide, unit)
	}
	return length, slide, nil
}

// CountByWindow returns a stream with one record per slide: the number of
// records in the window.
func (s Stream[T]) CountByWindow(length, slide time.Duration) Stream[int64] {
	return s.Window(length, slide).Count()
}

// ReduceByWindow returns a stream with one record per slide: the window's
// records merged with f. Each batch is reduced once, then the window reduces
// the per-batch results.
func (s Stream[T]) ReduceByWindow(f Fn[func(T, T) T], length, slide time.Duration) Stream[T] {
	return s.Reduce(f).Window(length, slide).Reduce(f)
}

// ReduceByKeyAndWindow returns, every slide, each key's values in the window
// merged with f. Each batch is reduced by key once, then the window reduces
// the per-batch results; the cost grows with the window. For long windows use
// ReduceByKeyAndWindowInv.
func ReduceByKeyAndWindow[K comparable, V any](s Stream[Pair[K, V]], f Fn[func(V, V) V], length, slide time.Duration, partitions int) Stream[Pair[K, V]] {
	return ReduceByKey(ReduceByKey(s, f, partitions).Window(length, slide), f, partitions)
}

// CountByValueAndWindow returns, every slide, how often each distinct record
// occurred in the window. It is incremental: see ReduceByKeyAndWindowInv.
func CountByValueAndWindow[T comparable](s Stream[T], length, slide time.Duration, partitions int) Stream[Pair[T, int64]] {
	return ReduceByKeyAndWindowInv(CountByValue(s, partitions), Sum[int64](), Subtract[int64](), NonZero[T, int64](), length, slide, partitions)
}
