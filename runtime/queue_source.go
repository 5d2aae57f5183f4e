package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Queue holds datasets for a QueueStream: each queued dataset is exactly one
// batch, which makes runs deterministic. It is meant for tests and for
// replaying fixed data.
type Queue[T any] struct {
	mu     sync.Mutex
	items  []queuedBatch[T]
	closed bool
}

type queuedBatch[T any] struct {
	records []T
	// parts, when set, are the caller's own partitions.
	parts [][]T
}

// NewQueue returns a queue holding the given batches. Each batch's records
// are split into the context's parallelism when planned; use PushPartitions
// to choose the partitions yourself.
func NewQueue[T any](batches ...[]T) *Queue[T] {
	q := &Queue[T]{}
	for _, b := range batches {
		q.Push(b...)
	}
	return q
}

// Push queues one batch.
func (q *Queue[T]) Push(records ...T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, queuedBatch[T]{records: records})
}

// PushPartitions queues one batch with explicit partitions.
func (q *Queue[T]) PushPartitions(parts ...[]T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, queuedBatch[T]{parts: parts})
}

// Close marks the queue complete: once drained, the stream is exhausted and a
// context whose sources are all exhausted stops by itself.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
}

type queueSource[T any] struct {
	q           *Queue[T]
	parallelism int
}

// QueueStream returns a stream whose every batch is the next dataset of q, or
// an empty batch when q is empty. A closed queue is a bounded source.
func QueueStream[T any](c *Context, q *Queue[T]) Stream[T] {
	return addStream(c, NodeSpec{Op: "queue"}, nil, nil, map[string]any{"queue": q}, func(b *builder) (streamNode[T], error) {
		q, ok := b.values["queue"].(*Queue[T])
		if !ok {
			return nil, fmt.Errorf("an in-memory queue cannot be rebuilt from a description; use QueueFilesStream")
		}
		return newInputStream[T](&queueSource[T]{q: q, parallelism: b.ctx.cfg.Parallelism}), nil
	})
}

func (s *queueSource[T]) Open(context.Context) error { return nil }
func (s *queueSource[T]) Close() error               { return nil }

func (s *queueSource[T]) Plan(context.Context, Time) (Input[T], error) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	if len(s.q.items) == 0 {
		return memoryInput[T](nil), nil
	}
	item := s.q.items[0]
	s.q.items = s.q.items[1:]
	if item.parts != nil {
		return memoryInput[T](item.parts), nil
	}
	return memoryInput[T](splitEvenly(item.records, s.parallelism)), nil
}

func (s *queueSource[T]) Exhausted() bool {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	return s.q.closed && len(s.q.items) == 0
}

// QueueFilesStream returns a bounded stream whose batch i is the lines of
// files[i]. Unlike an in-memory Queue, it can be described and rebuilt.
func QueueFilesStream(c *Context, files ...string) Stream[string] {
	return addStream(c, NodeSpec{Op: "queueFiles", Params: map[string]string{"files": strings.Join(files, "\n")}}, nil, nil, nil,
		func(b *builder) (streamNode[string], error) {
			list := b.spec.param("files")
			if list == "" {
				return nil, fmt.Errorf("no files listed")
			}
			return newInputStream[string](&fileQueueSource{files: strings.Split(list, "\n")}), nil
		})
}

type fileQueueSource struct {
	files []string
	next  int
}

func (s *fileQueueSource) Open(context.Context) error {
	for _, f := range s.files {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("queued file: %w", err)
		}
	}
	return nil
}
func (s *fileQueueSource) Close() error    { return nil }
func (s *fileQueueSource) Exhausted() bool { return s.next >= len(s.files) }

func (s *fileQueueSource) Plan(context.Context, Time) (Input[string], error) {
	if s.next >= len(s.files) {
		return fileInput(nil), nil
	}
	f := s.files[s.next]
	s.next++
	return fileInput{f}, nil
}

// A file queue is replayable: its position is the next file's index.

func (s *fileQueueSource) Position() ([]byte, error) { return json.Marshal(s.next) }

func (s *fileQueueSource) Restore(position []byte) error {
	var next int
	if err := json.Unmarshal(position, &next); err != nil {
		return fmt.Errorf("file queue position: %w", err)
	}
	if next < 0 || next > len(s.files) {
		return fmt.Errorf("file queue position %d: the queue has %d files", next, len(s.files))
	}
	s.next = next
	return nil
}

func (s *fileQueueSource) EncodeInput(in Input[string]) ([]byte, error) { return encodeFileInput(in) }
func (s *fileQueueSource) DecodeInput(data []byte) (Input[string], error) {
	names, err := decodeFileNames(data)
	return fileInput(names), err
}

// fileInput reads text files, one partition per file and one record per line.
type fileInput []string

func (f fileInput) Partitions() int { return len(f) }

func (f fileInput) fileNames() []string { return f }

func (f fileInput) Read(ctx context.Context, p int, yield func(string) bool) error {
	file, err := os.Open(f[p])
	if err != nil {
		return err
	}
	defer file.Close()
	return readLines(file, f[p], yield)
}

// readLines yields each line of r, which name names in errors.
func readLines(r io.Reader, name string, yield func(string) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLineBytes)
	for sc.Scan() {
		if !yield(sc.Text()) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}

// maxLineBytes bounds one text record; a longer line fails the batch rather
// than being split or dropped.
const maxLineBytes = 16 << 20
