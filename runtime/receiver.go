package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// ReceiverStream returns the stream of the Receiver that newReceiver creates.
// The function is registered, so the graph can be described and rebuilt.
func ReceiverStream[T any](c *Context, newReceiver Fn[func() Receiver[T]]) Stream[T] {
	return addStream(c, NodeSpec{Op: "receiver"}, nil, fns("new", newReceiver), nil, func(b *builder) (streamNode[T], error) {
		fn, err := builderFn[func() Receiver[T]](b, "new")
		if err != nil {
			return nil, err
		}
		return newInputStream[T](newReceiverSource(fn.f, b.ctx.cfg.Parallelism, b.ctx.log)), nil
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

	mu        sync.Mutex
	receiver  Receiver[T]
	gen       int // receiver generation; a stopped receiver's calls are ignored
	buffer    []T
	blocks    [][]T
	finished  bool
	exhausted bool
	closed    bool
	ctx       context.Context
}

func newReceiverSource[T any](newReceiver func() Receiver[T], parallelism int, log *slog.Logger) *receiverSource[T] {
	return &receiverSource[T]{newReceiver: newReceiver, parallelism: parallelism, log: log, restartDelay: 2 * time.Second}
}

func (s *receiverSource[T]) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
	return s.startLocked()
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

func (s *receiverSource[T]) Plan(context.Context, Time) (Input[T], error) {
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
