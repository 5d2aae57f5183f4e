package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// TextObjectStream is TextFileStream over the objects under a prefix of an
// object store, which open returns: each batch reads the objects first
// listed since the previous batch, one partition per object. An object
// appears whole when its upload completes; keys with a segment that starts
// with "." or "_" are ignored, and Pattern matches the last segment. Objects
// must not change once written: a recovered driver reads the objects the
// metadata checkpoint assigned to each batch again.
func TextObjectStream(c *Context, open Fn[func() (checkpoint.Store, error)], opts FileStreamOptions) Stream[string] {
	return addStream(c, NodeSpec{Op: "textObjects", Params: fileStreamParams(opts)}, nil, fns("open", open), nil,
		func(b *builder) (streamNode[string], error) {
			o, err := parseFileStreamParams(b)
			if err != nil {
				return nil, err
			}
			fn, err := builderFn[func() (checkpoint.Store, error)](b, "open")
			if err != nil {
				return nil, err
			}
			return newInputStream[string](&fileSource{loc: &objectPrefix{connect: fn.f, log: b.ctx.log, report: b.ctx.storeReport}, opts: o}), nil
		})
}

// objectPrefix is the objects under a prefix of an object store. It opens
// the store when the source opens: a worker that rebuilds the graph never
// connects to it.
type objectPrefix struct {
	connect func() (checkpoint.Store, error)
	log     *slog.Logger
	report  func(what string) func(error) // shows an outage in the status
	store   checkpoint.Store
}

func (o *objectPrefix) open(ctx context.Context) error {
	store, err := o.connect()
	if err != nil {
		return fmt.Errorf("object source: %w", err)
	}
	o.store = store
	_, err = o.list(ctx)
	return err
}

// list waits out an unavailable store: a failed plan would stop the job.
func (o *objectPrefix) list(ctx context.Context) (map[string]time.Time, error) {
	var objects []checkpoint.ObjectInfo
	what := "listing " + o.store.String()
	err := retryStore(ctx, o.log, what, func() (err error) {
		objects, err = o.store.ListInfo(ctx, "")
		return err
	}, o.report(what))
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(objects))
	for _, obj := range objects {
		if !inProgressDir(obj.Key) {
			out[obj.Key] = obj.Modified
		}
	}
	return out, nil
}

// inProgressDir reports whether a key is under a "directory" whose name
// starts with "." or "_": where writers stage objects in progress, as
// Spark's and Hadoop's committers do.
func inProgressDir(key string) bool {
	dir, _ := path.Split(key)
	for _, seg := range strings.Split(dir, "/") {
		if strings.HasPrefix(seg, ".") || strings.HasPrefix(seg, "_") {
			return true
		}
	}
	return false
}

func (o *objectPrefix) input(keys []string) Input[string] {
	return objectInput{prefix: o, keys: keys}
}

// objectInput reads text objects, one partition per object and one record
// per line.
type objectInput struct {
	prefix *objectPrefix
	keys   []string
}

func (in objectInput) Partitions() int     { return len(in.keys) }
func (in objectInput) fileNames() []string { return in.keys }

func (in objectInput) Read(ctx context.Context, p int, yield func(string) bool) error {
	var r io.ReadCloser
	what := "reading " + in.keys[p]
	err := retryStore(ctx, in.prefix.log, what, func() (err error) {
		r, err = in.prefix.store.Open(ctx, in.keys[p])
		return err
	}, in.prefix.report(what))
	if err != nil {
		return err
	}
	defer r.Close()
	return readLines(r, in.keys[p], yield)
}
