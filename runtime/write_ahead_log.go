package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// A receiver's write-ahead log, as in Spark Streaming: every block a
// receiver stores is written to the checkpoint store before StoreBlock
// returns (so a reliable receiver acknowledges only logged data), and
// records stored one by one are logged every block interval. A batch's
// plan is the list of its blocks' log keys, which the metadata checkpoint
// records: a recovered driver reads the batches it recomputes from the log,
// and the blocks logged but in no batch yet go into its first batch.

// logBlockInterval is how often records stored one by one are logged as a
// block: what a receiver's process loses at most when it dies.
const logBlockInterval = 200 * time.Millisecond

const walDir = "wal/"

// writeAheadLog is one stream's log in a store, as one driver incarnation
// writes it: its keys carry the driver's epoch, so that a recovered driver
// tells the blocks its own receivers logged from those it must recover.
type writeAheadLog struct {
	stream string
	epoch  int64
	store  checkpoint.Store
	log    *slog.Logger
	// report shows the store's outage in the status (nil on an executor).
	report func(error)
}

func (w *writeAheadLog) prefix() string { return walDir + w.stream + "/" }

// write logs a block under a new key: <time written>-<epoch>-<random>.
func (w *writeAheadLog) write(ctx context.Context, data []byte) (string, error) {
	key := fmt.Sprintf("%s%016d-%010d-%s", w.prefix(), time.Now().UnixMilli(), w.epoch, nonce())
	err := retryStore(ctx, w.log, "writing the write-ahead log", func() error { return w.store.Put(ctx, key, data) }, w.report)
	if err != nil {
		return "", fmt.Errorf("stream %q: logging a received block: %w", w.stream, err)
	}
	return key, nil
}

// epochOf returns the epoch of the driver under which a key was logged.
func (w *writeAheadLog) epochOf(key string) (int64, bool) {
	f := strings.Split(strings.TrimPrefix(key, w.prefix()), "-")
	if len(f) != 3 {
		return 0, false
	}
	e, err := strconv.ParseInt(f[1], 10, 64)
	return e, err == nil
}

func (w *writeAheadLog) read(ctx context.Context, key string) (data []byte, err error) {
	err = retryStore(ctx, w.log, "reading the write-ahead log", func() error {
		data, err = w.store.Get(ctx, key)
		return err
	}, w.report)
	if err != nil {
		return nil, fmt.Errorf("stream %q: reading logged block %s: %w", w.stream, key, err)
	}
	return data, nil
}

func (w *writeAheadLog) list(ctx context.Context) (keys []string, err error) {
	err = retryStore(ctx, w.log, "listing the write-ahead log", func() error {
		keys, err = w.store.List(ctx, w.prefix())
		return err
	}, w.report)
	return keys, err
}

// walKeyed is an input made of logged blocks, one partition per block.
type walKeyed interface{ walKeys() []string }

// loggedBlocks is a batch's received blocks, held in memory, with the log
// keys they were written under.
type loggedBlocks[T any] struct {
	memoryInput[T]
	keys []string
}

func (in loggedBlocks[T]) walKeys() []string { return in.keys }

// walInput is a batch read back from the log: what a recovered driver
// recomputes.
type walInput[T any] struct {
	wal  *writeAheadLog
	keys []string
}

func (in walInput[T]) Partitions() int   { return len(in.keys) }
func (in walInput[T]) walKeys() []string { return in.keys }
func (in walInput[T]) Read(ctx context.Context, p int, yield func(T) bool) error {
	data, err := in.wal.read(ctx, in.keys[p])
	if err != nil {
		return err
	}
	return yieldBlock(data, fmt.Sprintf("stream %q: logged block %s", in.wal.stream, in.keys[p]), yield)
}

// loggedReceiver is a receiver's source, in the driver, with a write-ahead
// log: a ReplayableSource. The receiver logs its blocks (in this process,
// or on an executor); a batch's plan is its blocks' keys. The position is
// which keys the batches that a recovery may recompute read, so that a
// recovered driver can tell the logged blocks that no batch read.
type loggedReceiver[T any] struct {
	Source[T]
	wal *writeAheadLog
	// recover hands the source, before its next plan, the logged blocks
	// that no batch read: they go first into the next batch.
	recover func(keys []string, blocks [][]byte) error

	mu       sync.Mutex
	assigned map[string]Time // log key -> the batch that read it
}

func (s *loggedReceiver[T]) Plan(ctx context.Context, t Time) (Input[T], error) {
	in, err := s.Source.Plan(ctx, t)
	if err != nil {
		return nil, err
	}
	keyed, ok := in.(walKeyed)
	if !ok || len(keyed.walKeys()) != in.Partitions() {
		return nil, fmt.Errorf("stream %q: batch %s has %d partitions but not as many logged blocks", s.wal.stream, t, in.Partitions())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.assigned == nil {
		s.assigned = map[string]Time{}
	}
	for _, k := range keyed.walKeys() {
		s.assigned[k] = t
	}
	return in, nil
}

type loggedPosition struct {
	Assigned map[string]Time `json:"assigned"`
}

func (s *loggedReceiver[T]) Position() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(loggedPosition{Assigned: s.assigned})
}

// Restore takes back which blocks batches read, and hands the source every
// block that an earlier driver's receivers logged and no batch read, in the
// order they were logged.
func (s *loggedReceiver[T]) Restore(position []byte) error {
	var p loggedPosition
	if err := json.Unmarshal(position, &p); err != nil {
		return fmt.Errorf("stream %q: write-ahead log position: %w", s.wal.stream, err)
	}
	ctx := context.Background()
	keys, err := s.wal.list(ctx)
	if err != nil {
		return fmt.Errorf("stream %q: listing the write-ahead log: %w", s.wal.stream, err)
	}
	var unassigned []string
	var blocks [][]byte
	for _, key := range keys {
		e, ok := s.wal.epochOf(key)
		if _, read := p.Assigned[key]; read || !ok || e >= s.wal.epoch {
			continue
		}
		data, err := s.wal.read(ctx, key)
		if err != nil {
			return err
		}
		unassigned, blocks = append(unassigned, key), append(blocks, data)
	}
	s.mu.Lock()
	s.assigned = p.Assigned
	s.mu.Unlock()
	if len(unassigned) == 0 {
		return nil
	}
	s.wal.log.Info("logged blocks that no batch read go into the next batch", "stream", s.wal.stream, "blocks", len(unassigned))
	return s.recover(unassigned, blocks)
}

func (s *loggedReceiver[T]) EncodeInput(in Input[T]) ([]byte, error) {
	keyed, ok := in.(walKeyed)
	if !ok {
		return nil, fmt.Errorf("stream %q: input of type %T has no log keys", s.wal.stream, in)
	}
	return json.Marshal(keyed.walKeys())
}

func (s *loggedReceiver[T]) DecodeInput(data []byte) (Input[T], error) {
	var keys []string
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("stream %q: logged plan: %w", s.wal.stream, err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, s.wal.prefix()) {
			return nil, fmt.Errorf("stream %q: logged plan names %q, outside %s", s.wal.stream, k, s.wal.prefix())
		}
	}
	return walInput[T]{wal: s.wal, keys: keys}, nil
}

// pruneLog deletes the logged blocks of the batches through t, which no
// recovery recomputes once the oldest data checkpoint kept is at t.
func (s *loggedReceiver[T]) pruneLog(ctx context.Context, t Time) error {
	s.mu.Lock()
	var drop []string
	for k, bt := range s.assigned {
		if bt <= t {
			drop = append(drop, k)
		}
	}
	s.mu.Unlock()
	slices.Sort(drop)
	for _, k := range drop {
		if err := s.wal.store.Delete(ctx, k); err != nil {
			return fmt.Errorf("stream %q: deleting logged block %s: %w", s.wal.stream, k, err)
		}
		s.mu.Lock()
		delete(s.assigned, k)
		s.mu.Unlock()
	}
	return nil
}

// logPruner is a source with a write-ahead log.
type logPruner interface {
	pruneLog(ctx context.Context, through Time) error
}

// ReceiverLog returns, in a worker context, how the executor running input
// node's receiver logs a received block under driver epoch: the function
// returns the block's log key once the block is in the store. It returns
// nil when the stream has no write-ahead log.
func (c *Context) ReceiverLog(node int, epoch int64) (func(context.Context, []byte) (string, error), error) {
	if node < 1 || node > len(c.nodes) {
		return nil, fmt.Errorf("no node %d: the graph has %d nodes", node, len(c.nodes))
	}
	l, ok := c.nodes[node-1].(interface{ logsReceived() bool })
	if !ok || !l.logsReceived() {
		return nil, nil
	}
	if c.cfg.LogStore == nil {
		return nil, fmt.Errorf("stream %q has a write-ahead log, and this process has no store for it", c.nodes[node-1].info().name)
	}
	c.logStoreOnce.Do(func() { c.logStore, c.logStoreErr = c.cfg.LogStore() })
	if c.logStoreErr != nil {
		return nil, fmt.Errorf("opening the write-ahead log's store: %w", c.logStoreErr)
	}
	wal := &writeAheadLog{stream: c.nodes[node-1].info().name, epoch: epoch, store: c.logStore, log: c.log}
	return wal.write, nil
}

// logsReceived reports whether the stream is a receiver's with a
// write-ahead log.
func (s *inputStream[T]) logsReceived() bool {
	rs, ok := s.src.(*receiverSource[T])
	return ok && rs.logged
}
