package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Receiver is a custom push-based source, as in Spark Streaming: something
// that receives data from outside (a socket, a message bus) and hands it to
// the engine, which groups it into blocks and the blocks into batches.
//
// Lifecycle: Start is called once when the context starts and must return
// promptly, receiving on goroutines of its own. Stop is called once when the
// context stops; after it returns the receiver must not call its Store any
// more. If the receiver reports an error, the engine stops it and starts a
// new one from the same factory after a delay.
type Receiver[T any] interface {
	Start(store Store[T]) error
	Stop() error
}

// Store is how a Receiver hands data to the engine.
type Store[T any] interface {
	// Store buffers one record. Buffered records go into the next block;
	// they are not yet safe, so an unreliable receiver loses them if the
	// process dies. Use it for sources that cannot replay anyway.
	Store(record T)
	// StoreBlock stores records as one block and returns once the block is
	// stored (in memory in local mode; replicated, or in the write-ahead log,
	// when those are enabled). A reliable receiver acknowledges data to its
	// source only after StoreBlock returns nil, so unacknowledged data is
	// redelivered after a failure.
	StoreBlock(ctx context.Context, records []T) error
	// ReportError reports a failure. The engine restarts the receiver.
	ReportError(err error)
	// Finish marks the end of a bounded input. Once every stored record has
	// been planned into a batch, the stream is exhausted.
	Finish()
}

// ReceiverOptions configure a receiver's stream.
type ReceiverOptions struct {
	// WriteAheadLog writes every block the receiver stores to the
	// checkpoint store before StoreBlock returns, and the records it stores
	// one by one every 200 ms, so that data received but not yet processed
	// survives the driver. It needs Config.Checkpoint; in a cluster, where
	// executors write the log, a store they reach too (S3).
	WriteAheadLog bool
}

// ReceiverStream returns the stream of the Receiver that newReceiver creates.
// The function is registered, so the graph can be described and rebuilt.
func ReceiverStream[T any](c *Context, newReceiver Fn[func() Receiver[T]], opts ...ReceiverOptions) Stream[T] {
	params := map[string]string{"writeAheadLog": strconv.FormatBool(len(opts) > 0 && opts[0].WriteAheadLog)}
	return addStream(c, NodeSpec{Op: "receiver", Params: params}, nil, fns("new", newReceiver), nil, func(b *builder) (streamNode[T], error) {
		fn, err := builderFn[func() Receiver[T]](b, "new")
		if err != nil {
			return nil, err
		}
		src := newReceiverSource(fn.f, b.ctx.cfg.Parallelism, b.ctx.log)
		if src.logged, err = b.spec.boolParam("writeAheadLog"); err != nil {
			return nil, err
		}
		return newInputStream[T](src), nil
	})
}

// receiverSource runs a Receiver and turns what it stores into batches: at
// each batch it cuts the buffered records into blocks and allocates every
// block stored since the previous batch.
type receiverSource[T any] struct {
	newReceiver  func() Receiver[T]
	parallelism  int
	log          *slog.Logger
	restartDelay time.Duration
	// onBlock, when set, takes each block a receiver stores instead of the
	// source keeping it: an executor hosting the receiver stores and
	// replicates it before StoreBlock returns.
	onBlock func(ctx context.Context, records []T) error
	// logged asks for a write-ahead log; wal is the log once the context
	// opens the source with a checkpoint store.
	logged bool
	wal    *writeAheadLog

	mu        sync.Mutex
	receiver  Receiver[T]
	gen       int // receiver generation; a stopped receiver's calls are ignored
	buffer    []T
	blocks    [][]T
	blockKeys []string // with a log: each block's key
	finished  bool
	exhausted bool
	closed    bool
	ctx       context.Context
	stopFlush context.CancelFunc
}

func newReceiverSource[T any](newReceiver func() Receiver[T], parallelism int, log *slog.Logger) *receiverSource[T] {
	return &receiverSource[T]{newReceiver: newReceiver, parallelism: parallelism, log: log, restartDelay: 2 * time.Second}
}

func (s *receiverSource[T]) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
	if s.wal != nil {
		flushCtx, stop := context.WithCancel(ctx)
		s.stopFlush = stop
		go s.flushEvery(flushCtx, logBlockInterval)
	}
	return s.startLocked()
}

// flushEvery logs the records stored one by one as a block, at every
// interval, so that they survive the process long before their batch.
func (s *receiverSource[T]) flushEvery(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := s.logBuffered(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("logging received records", "error", err)
		}
	}
}

// logBuffered writes the records stored one by one to the log, as a block.
func (s *receiverSource[T]) logBuffered(ctx context.Context) error {
	s.mu.Lock()
	buf := s.buffer
	s.buffer = nil
	s.mu.Unlock()
	if len(buf) == 0 {
		return nil
	}
	return s.logBlock(ctx, buf)
}

// logBlock writes a block to the log and keeps it for the next batch.
func (s *receiverSource[T]) logBlock(ctx context.Context, records []T) error {
	data, err := EncodeRecords(records)
	if err != nil {
		return fmt.Errorf("stream %q: encoding a received block: %w", s.wal.stream, err)
	}
	key, err := s.wal.write(ctx, data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks, s.blockKeys = append(s.blocks, records), append(s.blockKeys, key)
	return nil
}

// takeRecovered puts blocks a recovered driver found in the log, in no
// batch, ahead of everything received since.
func (s *receiverSource[T]) takeRecovered(keys []string, data [][]byte) error {
	blocks := make([][]T, len(data))
	for i, d := range data {
		var err error
		if blocks[i], err = DecodeRecords[T](d); err != nil {
			return fmt.Errorf("stream %q: logged block %s: %w", s.wal.stream, keys[i], err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks = append(blocks, s.blocks...)
	s.blockKeys = append(slices.Clone(keys), s.blockKeys...)
	return nil
}

func (s *receiverSource[T]) startLocked() error {
	s.gen++
	r := s.newReceiver()
	s.receiver = r
	if err := r.Start(&receiverStore[T]{src: s, gen: s.gen}); err != nil {
		return fmt.Errorf("starting receiver: %w", err)
	}
	return nil
}

func (s *receiverSource[T]) restart(gen int, cause error) {
	s.mu.Lock()
	if gen != s.gen || s.closed {
		s.mu.Unlock()
		return
	}
	old := s.receiver
	s.gen++ // silence the failed receiver at once
	s.mu.Unlock()
	s.log.Warn("receiver failed; restarting it", "error", cause, "delay", s.restartDelay)
	// Stop on a goroutine of our own: ReportError is usually called from the
	// receiver's goroutine, which its Stop waits for.
	go func() {
		if err := old.Stop(); err != nil {
			s.log.Warn("stopping failed receiver", "error", err)
		}
		select {
		case <-time.After(s.restartDelay):
		case <-s.ctx.Done():
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return
		}
		if err := s.startLocked(); err != nil {
			s.log.Error("restarting receiver", "error", err)
		}
	}()
}

func (s *receiverSource[T]) Plan(ctx context.Context, _ Time) (Input[T], error) {
	if s.wal != nil {
		if err := s.logBuffered(ctx); err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		in := loggedBlocks[T]{memoryInput: s.blocks, keys: s.blockKeys}
		s.blocks, s.blockKeys = nil, nil
		if s.finished && len(s.buffer) == 0 {
			s.exhausted = true
		}
		return in, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	blocks := s.blocks
	if len(s.buffer) > 0 {
		blocks = append(blocks, splitEvenly(s.buffer, s.parallelism)...)
		s.buffer = nil
	}
	s.blocks = nil
	if s.finished {
		s.exhausted = true
	}
	return memoryInput[T](blocks), nil
}

// takeBuffered returns the records stored one by one since the last call,
// and whether the receiver has finished: an executor hosting the receiver
// turns them into a block at every block interval and at every batch.
func (s *receiverSource[T]) takeBuffered() ([]T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := s.buffer
	s.buffer = nil
	return buf, s.finished
}

func (s *receiverSource[T]) Exhausted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exhausted
}

func (s *receiverSource[T]) Close() error {
	s.mu.Lock()
	s.closed = true
	s.gen++
	r := s.receiver
	if s.stopFlush != nil {
		s.stopFlush()
	}
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.Stop()
}

type receiverStore[T any] struct {
	src *receiverSource[T]
	gen int
}

func (st *receiverStore[T]) Store(record T) {
	s := st.src
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.gen == s.gen {
		s.buffer = append(s.buffer, record)
	}
}

func (st *receiverStore[T]) StoreBlock(ctx context.Context, records []T) error {
	s := st.src
	if s.wal != nil {
		s.mu.Lock()
		stopped := st.gen != s.gen
		s.mu.Unlock()
		if stopped {
			return errors.New("receiver was stopped; the block was not stored")
		}
		if len(records) == 0 {
			return ctx.Err()
		}
		// Logged, the block is safe whatever happens to the receiver: it
		// is kept even if the receiver was stopped meanwhile.
		return s.logBlock(ctx, append([]T(nil), records...))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.gen != s.gen {
		return errors.New("receiver was stopped; the block was not stored")
	}
	if s.onBlock != nil && len(records) > 0 {
		// Not under the lock: storing may wait for a replica on another
		// executor, and the receiver's Store calls must not wait for that.
		s.mu.Unlock()
		err := s.onBlock(ctx, append([]T(nil), records...))
		s.mu.Lock()
		return err
	}
	if len(records) > 0 {
		s.blocks = append(s.blocks, append([]T(nil), records...))
	}
	return ctx.Err()
}

func (st *receiverStore[T]) ReportError(err error) { st.src.restart(st.gen, err) }

func (st *receiverStore[T]) Finish() {
	s := st.src
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.gen == s.gen {
		s.finished = true
	}
}

// AckSource is a source that redelivers records until they are
// acknowledged, such as a message queue with consumer acknowledgements.
type AckSource[T any] interface {
	// Fetch returns the next records and a function that acknowledges
	// exactly those records. io.EOF ends a bounded source.
	Fetch(ctx context.Context) (records []T, ack func() error, err error)
	// Close releases the source.
	Close() error
}

// ReliableReceiver receives from an AckSource and acknowledges each fetched
// group of records only after it is stored as a block. A failure between the
// two leaves the records unacknowledged, so the source redelivers them.
type ReliableReceiver[T any] struct {
	src    AckSource[T]
	cancel context.CancelFunc
	done   chan struct{}
}

// NewReliableReceiver wraps src.
func NewReliableReceiver[T any](src AckSource[T]) *ReliableReceiver[T] {
	return &ReliableReceiver[T]{src: src}
}

// Start implements Receiver.
func (r *ReliableReceiver[T]) Start(store Store[T]) error {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		for {
			records, ack, err := r.src.Fetch(ctx)
			if errors.Is(err, io.EOF) {
				store.Finish()
				return
			}
			if err != nil {
				if ctx.Err() == nil {
					store.ReportError(fmt.Errorf("fetching: %w", err))
				}
				return
			}
			if err := store.StoreBlock(ctx, records); err != nil {
				if ctx.Err() == nil {
					store.ReportError(fmt.Errorf("storing block: %w", err))
				}
				return
			}
			if ack != nil {
				if err := ack(); err != nil {
					store.ReportError(fmt.Errorf("acknowledging: %w", err))
					return
				}
			}
		}
	}()
	return nil
}

// Stop implements Receiver.
func (r *ReliableReceiver[T]) Stop() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	<-r.done
	return r.src.Close()
}
