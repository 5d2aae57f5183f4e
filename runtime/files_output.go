package runtime

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// filesOutput writes each batch as a directory of JSON-lines part files.
type filesOutput[T any] struct {
	outputBase
	parent streamNode[T]
	dir    string
}

// SaveAsJSONFiles writes each batch to dir/<batch time in ms>/, one file
// part-NNNNN per partition, one JSON value per line; a pair is written as
// {"key":…,"value":…}. The directory appears atomically: it is written under a
// hidden temporary name and renamed into place when the batch commits, so a
// reader never sees half a batch. Recomputing a batch writes the same
// content again.
func (s Stream[T]) SaveAsJSONFiles(dir string) {
	addOutputOp(s, NodeSpec{Op: "jsonFiles", Params: map[string]string{"dir": dir}}, nil,
		func(b *builder, parent streamNode[T]) (outputNode, error) {
			dir := b.spec.param("dir")
			if dir == "" {
				return nil, errors.New("output directory is empty")
			}
			return &filesOutput[T]{parent: parent, dir: dir}, nil
		})
}

// PartFileName is the name of partition p's file in a batch directory.
func PartFileName(p int) string { return fmt.Sprintf("part-%05d", p) }

// BatchDirName is the name of the directory of the batch at t.
func BatchDirName(t Time) string { return strconv.FormatInt(int64(t), 10) }

func (o *filesOutput[T]) prepare(ctx context.Context, t Time) (func(context.Context) error, error) {
	ds, err := get(o.parent, t)
	if err != nil || ds == nil {
		return nil, err
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	tmp := filepath.Join(o.dir, ".tmp-"+BatchDirName(t)+"-"+nonce())
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("creating batch directory: %w", err)
	}
	err = o.ctx.sched.runTasks(ctx, &o.nodeInfo, t, "write", ds.stages, ds.parts, func(tc *taskContext, p int) error {
		return writeJSONLines(tc, filepath.Join(tmp, PartFileName(p)), ds, p, &o.nodeInfo)
	})
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	final := filepath.Join(o.dir, BatchDirName(t))
	return func(context.Context) error { return replaceDir(tmp, final) }, nil
}

func writeJSONLines[T any](tc *taskContext, path string, ds *dataset[T], p int, self *nodeInfo) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 256<<10)
	if _, err := encodeJSONLines(tc, w, ds, p, self); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

// encodeJSONLines writes partition p of ds as JSON lines and returns how
// many records it wrote.
func encodeJSONLines[T any](tc *taskContext, w io.Writer, ds *dataset[T], p int, self *nodeInfo) (int, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var encErr error
	n := 0
	ds.compute(tc, p, func(r T) bool {
		tc.current = self
		if encErr = enc.Encode(r); encErr != nil {
			encErr = fmt.Errorf("%w: record %d of partition %d cannot be written as JSON: %w", ErrBadRecord, n, p, encErr)
			return false
		}
		n++
		return true
	})
	return n, encErr
}

// replaceDir moves tmp to final. If final exists (the batch is being
// recomputed), it is moved aside first and removed after, so final is
// never a mix of two runs.
func replaceDir(tmp, final string) error {
	if _, err := os.Stat(final); err == nil {
		old := filepath.Join(filepath.Dir(final), ".old-"+filepath.Base(final)+"-"+nonce())
		if err := os.Rename(final, old); err != nil {
			return fmt.Errorf("moving previous batch directory aside: %w", err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("publishing batch directory: %w", err)
	}
	return nil
}

func nonce() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
