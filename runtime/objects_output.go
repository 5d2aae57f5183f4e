package runtime

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// CommitMarkerName is the object written last in a batch's directory of an
// object-store output: a reader that lists batches by their marker sees
// each batch once, whole, however often it was written.
const CommitMarkerName = "_SUCCESS"

// CommitMarker is the content of a batch's commit marker.
type CommitMarker struct {
	BatchTime Time `json:"batchTime"`
	// Parts are the batch's objects, relative to the output's location.
	Parts   []string `json:"parts"`
	Records int64    `json:"records"`
}

// objectsOutput writes each batch to an object store, exactly once as a
// reader following commit markers sees it.
type objectsOutput[T any] struct {
	outputBase
	parent streamNode[T]
	open   func() (checkpoint.Store, error)

	once  sync.Once
	store checkpoint.Store
	err   error
}

// SaveAsJSONObjects writes each batch to the object store that open
// returns: <batch time in ms>/part-NNNNN.jsonl, one object per partition, one
// JSON value per line, then the commit marker <batch time>/_SUCCESS. Names
// are a function of the batch alone, so a batch that a recovered driver
// computes again writes the same objects; a batch whose marker exists is
// not written again, and the marker is created with a conditional write
// where the store supports one, so two drivers cannot both commit it.
func (s Stream[T]) SaveAsJSONObjects(open Fn[func() (checkpoint.Store, error)]) {
	addOutputOp(s, NodeSpec{Op: "jsonObjects"}, fns("open", open), func(b *builder, parent streamNode[T]) (outputNode, error) {
		fn, err := builderFn[func() (checkpoint.Store, error)](b, "open")
		if err != nil {
			return nil, err
		}
		return &objectsOutput[T]{parent: parent, open: fn.f}, nil
	})
}

func (o *objectsOutput[T]) prepare(ctx context.Context, t Time) (func(context.Context) error, error) {
	ds, err := get(o.parent, t)
	if err != nil || ds == nil {
		return nil, err
	}
	o.once.Do(func() { o.store, o.err = o.open() })
	if o.err != nil {
		return nil, fmt.Errorf("opening the output store: %w", o.err)
	}
	dir := BatchDirName(t) + "/"
	marker := dir + CommitMarkerName
	committed := false
	err = o.retry(ctx, "reading commit marker "+marker, func() error {
		_, err := o.store.Get(ctx, marker)
		committed = err == nil
		if errors.Is(err, checkpoint.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if committed {
		o.ctx.log.Info("batch already committed to the output; not writing it again", "stream", o.name, "batchTime", int64(t))
		return nil, nil
	}
	parts := make([]string, ds.parts)
	counts := make([]int, ds.parts)
	err = o.ctx.sched.runTasks(ctx, &o.nodeInfo, t, "write", ds.stages, ds.parts, func(tc *taskContext, p int) error {
		var buf bytes.Buffer
		n, err := encodeJSONLines(tc, &buf, ds, p, &o.nodeInfo)
		if err != nil {
			return err
		}
		parts[p], counts[p] = dir+PartFileName(p)+".jsonl", n
		return o.retry(tc.ctx, "writing "+parts[p], func() error { return o.store.Put(tc.ctx, parts[p], buf.Bytes()) })
	})
	if err != nil {
		return nil, err
	}
	m := CommitMarker{BatchTime: t, Parts: parts}
	for _, n := range counts {
		m.Records += int64(n)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		return o.retry(ctx, "writing commit marker "+marker, func() error {
			err := o.store.Create(ctx, marker, body)
			switch {
			case errors.Is(err, checkpoint.ErrExists):
				// Another driver committed the same batch, or an earlier
				// attempt did and its answer was lost: the same objects.
				return nil
			case errors.Is(err, checkpoint.ErrConditionalUnsupported):
				return o.store.Put(ctx, marker, body)
			}
			return err
		})
	}, nil
}

// retry waits out an unavailable store: the batch stalls and resumes.
func (o *objectsOutput[T]) retry(ctx context.Context, what string, op func() error) error {
	return retryStore(ctx, o.ctx.log.With("stream", o.name), what, op, o.ctx.storeReport(what))
}

// CommittedBatch is one batch of an object-store output as a reader sees
// it: the batch time and its records, one JSON value each, in part order.
type CommittedBatch struct {
	Time    Time
	Records []string
}

// ReadCommitted reads an object-store output as a downstream reader should:
// only the batches whose commit marker exists, in time order, each with
// the records of the parts its marker lists. Objects without a marker (a
// batch being written, or written by a driver that lost its epoch) are
// ignored. A marker whose parts are missing, or hold another number of
// records than it says, is an error naming the batch.
func ReadCommitted(ctx context.Context, store checkpoint.Store) ([]CommittedBatch, error) {
	keys, err := store.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", store, err)
	}
	var out []CommittedBatch
	for _, key := range keys {
		dir, name, ok := strings.Cut(key, "/")
		if !ok || name != CommitMarkerName {
			continue
		}
		body, err := store.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("reading the commit marker %s: %w", key, err)
		}
		var m CommitMarker
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("batch %s: commit marker %s: %w", dir, key, err)
		}
		b := CommittedBatch{Time: m.BatchTime}
		for _, part := range m.Parts {
			data, err := store.Get(ctx, part)
			if err != nil {
				return nil, fmt.Errorf("batch %s: part %s listed by its commit marker: %w", m.BatchTime, part, err)
			}
			for line := range strings.Lines(string(data)) {
				if line = strings.TrimSuffix(line, "\n"); line != "" {
					b.Records = append(b.Records, line)
				}
			}
		}
		if int64(len(b.Records)) != m.Records {
			return nil, fmt.Errorf("batch %s: %d records in its parts, its commit marker says %d", m.BatchTime, len(b.Records), m.Records)
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b CommittedBatch) int { return cmp.Compare(a.Time, b.Time) })
	return out, nil
}
