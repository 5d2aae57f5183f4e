package runtime

import (
	"errors"
)

// unioned is the union of streams: each batch holds the partitions of every
// parent's batch side by side.
type unioned[T any] struct {
	nodeInfo
	memo[T]
	parents []streamNode[T]
}

// Union returns a stream of the records of s and of others. All must slide
// by the same interval.
func (s Stream[T]) Union(others ...Stream[T]) Stream[T] {
	parents := []node{s.n}
	for _, o := range others {
		parents = append(parents, o.n)
	}
	return addStream(s.n.info().ctx, NodeSpec{Op: "union"}, parents, nil, nil, func(b *builder) (streamNode[T], error) {
		u := &unioned[T]{}
		for i := range b.parents {
			p, err := builderParent[T](b, i)
			if err != nil {
				return nil, err
			}
			if p.info().slide != b.parents[0].info().slide {
				return nil, errors.New("union of streams with different slide durations")
			}
			u.parents = append(u.parents, p)
		}
		return u, nil
	})
}

func (u *unioned[T]) compute(t Time) (*dataset[T], error) {
	var dss []*dataset[T]
	for _, p := range u.parents {
		ds, err := get(p, t)
		if err != nil {
			return nil, err
		}
		if ds != nil {
			dss = append(dss, ds)
		}
	}
	return concatDatasets(&u.nodeInfo, t, dss), nil
}
