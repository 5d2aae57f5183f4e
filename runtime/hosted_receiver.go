package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Receivers on executors. In a cluster the driver runs no receiver: it asks
// a ReceiverScheduler to run each one on an executor, and at every batch to
// cut what it received into the batch's input blocks, which stay on that
// executor with a replica on another. This file holds both sides: the
// driver's stand-in source (hostedSource) and the executor's entry points
// (HostReceiver, PutReceivedBlock).

// ReceiverScheduler runs receivers on executors: the driver of a cluster.
type ReceiverScheduler interface {
	// StartReceiver asks for the receiver of input node to run on an
	// executor from now on, moving it when its executor is lost. With a
	// logEpoch (not 0) the executor writes what it receives to the
	// stream's write-ahead log under that driver epoch (see ReceiverLog).
	StartReceiver(node int, name string, logEpoch int64)
	// CutReceiver asks the executor running node's receiver to store what
	// it received as the input blocks of the batch at t, (node, t, 0) task p
	// for each partition p, and returns where they are. It retries across
	// executor losses until ctx ends; asking twice for t gives one answer.
	CutReceiver(ctx context.Context, node int, t Time, committed Time) (ReceiverCut, error)
	// StopReceiver stops node's receiver.
	StopReceiver(node int)
}

// ReceiverCut is where a batch's received input is.
type ReceiverCut struct {
	Partitions int
	// Primary is the receiving executor's block address; Backup holds a
	// replica of every block, or is empty when no second executor was
	// alive.
	Primary, Backup string
	// Exhausted: the receiver finished and this batch holds the last of it.
	Exhausted bool
	// WALKeys are the write-ahead log keys of the partitions, in order,
	// when the receiver logs.
	WALKeys []string
}

// hostedSource stands in, in the driver, for a receiver that runs on an
// executor.
type hostedSource[T any] struct {
	node      int
	name      string
	scheduler ReceiverScheduler
	committed func() Time
	fetch     func(ctx context.Context, address string, id BlockID) ([]byte, error)
	logEpoch  int64 // not 0: the executor logs what it receives

	mu        sync.Mutex
	exhausted bool
	// recovered are logged blocks that no batch read before this driver
	// took over: the next batch reads them after what was cut.
	recovered     [][]byte
	recoveredKeys []string
}

func (s *hostedSource[T]) Open(context.Context) error {
	s.scheduler.StartReceiver(s.node, s.name, s.logEpoch)
	return nil
}

func (s *hostedSource[T]) takeRecovered(keys []string, blocks [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recovered, s.recoveredKeys = append(s.recovered, blocks...), append(s.recoveredKeys, keys...)
	return nil
}

func (s *hostedSource[T]) Plan(ctx context.Context, t Time) (Input[T], error) {
	cut, err := s.scheduler.CutReceiver(ctx, s.node, t, s.committed())
	if err != nil {
		return nil, fmt.Errorf("cutting the received input of batch %s: %w", t, err)
	}
	if s.logEpoch != 0 && len(cut.WALKeys) != cut.Partitions {
		return nil, fmt.Errorf("the received input of batch %s has %d partitions and %d logged blocks", t, cut.Partitions, len(cut.WALKeys))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exhausted = cut.Exhausted
	in := receivedInput[T]{cut: cut, node: s.node, time: t, fetch: s.fetch, recovered: s.recovered, recoveredKeys: s.recoveredKeys}
	s.recovered, s.recoveredKeys = nil, nil
	return in, nil
}

func (s *hostedSource[T]) Exhausted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exhausted
}

func (s *hostedSource[T]) Close() error {
	s.scheduler.StopReceiver(s.node)
	return nil
}

// receivedInput is a batch's input held by executors. The input stream
// places its blocks (placeReceivedInput) and tasks read them where they
// are; Read fetches a partition for other callers.
type receivedInput[T any] struct {
	cut   ReceiverCut
	node  int
	time  Time
	fetch func(ctx context.Context, address string, id BlockID) ([]byte, error)
	// recovered are blocks read back from the write-ahead log, held by the
	// driver: the partitions after the cut's.
	recovered     [][]byte
	recoveredKeys []string
}

func (in receivedInput[T]) Partitions() int { return in.cut.Partitions + len(in.recovered) }

func (in receivedInput[T]) walKeys() []string {
	return append(slices.Clone(in.cut.WALKeys), in.recoveredKeys...)
}

func (in receivedInput[T]) Read(ctx context.Context, p int, yield func(T) bool) error {
	if i := p - in.cut.Partitions; i >= 0 {
		return yieldBlock(in.recovered[i], "logged block "+in.recoveredKeys[i], yield)
	}
	id := BlockID{Stage: StageKey{Node: in.node, Time: in.time}, Task: p}
	var errs []error
	for _, addr := range []string{in.cut.Primary, in.cut.Backup} {
		if addr == "" {
			continue
		}
		data, err := in.fetch(ctx, addr, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return yieldBlock(data, fmt.Sprintf("received block %s from %s", id, addr), yield)
	}
	return fmt.Errorf("received block %s: %w", id, errors.Join(errs...))
}

// yieldBlock decodes an encoded block, which name names in errors, and
// yields its records.
func yieldBlock[T any](data []byte, name string, yield func(T) bool) error {
	records, err := DecodeRecords[T](data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, r := range records {
		if !yield(r) {
			return nil
		}
	}
	return nil
}

// placeReceivedInput records a received batch's blocks where the cut put
// them. Once the blocks are lost with every copy they cannot be recomputed:
// the stage's tasks then fail, naming the lost partition.
func (s *inputStream[T]) placeReceivedInput(t Time, in receivedInput[T]) *stage {
	cut := in.cut
	st := newStage(&s.nodeInfo, t, "input", nil, in.Partitions(), func(_ *taskContext, p int) error {
		return fmt.Errorf("received input partition %d was lost with every copy (its receiver's executor and the backup)", p)
	})
	st.driverOnly = true
	for p := 0; p < cut.Partitions; p++ {
		s.ctx.blocks.setLocation(st.key, p, cut.Primary)
		if cut.Backup != "" {
			s.ctx.blocks.setBackup(st.key, p, cut.Backup)
		}
	}
	for i, data := range in.recovered {
		s.ctx.blocks.putRaw(BlockID{Stage: st.key, Task: cut.Partitions + i}, data)
	}
	st.markPlaced()
	return st
}

// HostedReceiver is a receiver an executor runs for the driver.
type HostedReceiver interface {
	// TakeBuffered returns the records the receiver stored one by one since
	// the last call, encoded as one block (nil when there were none), and
	// whether the receiver has finished its bounded input.
	TakeBuffered() (block []byte, finished bool, err error)
	// Stop stops the receiver.
	Stop() error
}

// hostable is an input stream whose source is a receiver an executor can run.
type hostable interface {
	host(ctx context.Context, storeBlock func(context.Context, []byte) error) (HostedReceiver, error)
}

// HostReceiver starts, in this worker context, a fresh copy of the receiver
// of input node. Every block the receiver stores with StoreBlock is encoded
// and handed to storeBlock, whose return is what the receiver sees: an
// executor returns once the block is replicated.
func (c *Context) HostReceiver(ctx context.Context, node int, storeBlock func(context.Context, []byte) error) (HostedReceiver, error) {
	if node < 1 || node > len(c.nodes) {
		return nil, fmt.Errorf("no node %d: the graph has %d nodes", node, len(c.nodes))
	}
	h, ok := c.nodes[node-1].(hostable)
	if !ok {
		return nil, fmt.Errorf("node %d (%s) is not a receiver", node, c.nodes[node-1].info().name)
	}
	return h.host(ctx, storeBlock)
}

func (s *inputStream[T]) host(ctx context.Context, storeBlock func(context.Context, []byte) error) (HostedReceiver, error) {
	proto, ok := s.src.(*receiverSource[T])
	if !ok {
		return nil, fmt.Errorf("stream %s is not fed by a receiver", s.name)
	}
	src := newReceiverSource(proto.newReceiver, proto.parallelism, s.ctx.log.With("stream", s.name))
	src.onBlock = func(ctx context.Context, records []T) error {
		data, err := EncodeRecords(records)
		if err != nil {
			return fmt.Errorf("encoding a received block of stream %s: %w", s.name, err)
		}
		return storeBlock(ctx, data)
	}
	if err := src.Open(ctx); err != nil {
		// Retry like a receiver that reported an error, rather than leave
		// the stream without one.
		src.restart(src.gen, err)
	}
	return hostedReceiver[T]{src: src, stream: s.name}, nil
}

type hostedReceiver[T any] struct {
	src    *receiverSource[T]
	stream string
}

func (h hostedReceiver[T]) TakeBuffered() ([]byte, bool, error) {
	records, finished := h.src.takeBuffered()
	if len(records) == 0 {
		return nil, finished, nil
	}
	data, err := EncodeRecords(records)
	if err != nil {
		return nil, finished, fmt.Errorf("encoding received records of stream %s: %w", h.stream, err)
	}
	return data, finished, nil
}

func (h hostedReceiver[T]) Stop() error { return h.src.Close() }

// PutReceivedBlock stores, in this worker context, partition p of node's
// input batch at t, as encoded by a receiver's executor: tasks here read it
// in place and peers fetch it. It is dropped with the batch, once the
// driver's committed batch passes what the node remembers.
func (c *Context) PutReceivedBlock(node int, t Time, p int, data []byte) {
	w := &c.work
	w.mu.Lock()
	if w.received == nil {
		w.received = map[nodeTime]int{}
	}
	k := nodeTime{node, t}
	w.received[k] = max(w.received[k], p+1)
	w.mu.Unlock()
	c.blocks.putRaw(BlockID{Stage: StageKey{Node: node, Time: t}, Task: p}, data)
}

// ForgetReceived drops the received blocks no batch after committed can need.
func (c *Context) ForgetReceived(committed Time) {
	w := &c.work
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, parts := range w.received {
		if k.time < c.forgetHorizon(k.node, committed) {
			c.blocks.dropStage(StageKey{Node: k.node, Time: k.time}, parts, 1)
			delete(w.received, k)
		}
	}
}

// forgetHorizon is the oldest batch time of node that a batch after
// committed can still read.
func (c *Context) forgetHorizon(node int, committed Time) Time {
	if node < 1 || node > len(c.nodes) {
		return committed + 1
	}
	return committed.Add(-c.nodes[node-1].info().remember) + 1
}
