package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tributary-dev/tributary/runtime"
	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

// The executor's side of receivers: running the receivers the driver
// assigns (hosting), and keeping the replicas other executors' receivers
// push here (backing). A received block is pending until a cut makes it a
// partition of a batch's input; pending blocks and cut batches both live on
// the host and on its backup, so that the backup can take over the receiver
// with nothing that was replicated lost.

// blockInterval is how often a host turns the records its receivers stored
// one by one into a block and replicates it, as Spark's block interval:
// an unreliable receiver's executor loses at most this much once received
// data has reached it.
const blockInterval = 200 * time.Millisecond

// replicateTimeout bounds one push to a backup, so that a hung backup
// cannot stall a receiver or the batch clock for longer.
const replicateTimeout = 10 * time.Second

// maxReplicaBlocks bounds the blocks of one Replicate stream.
const maxReplicaBlocks = 1 << 16

type pendingBlock struct {
	seq  int64
	data []byte
	// walKey is the block's key in the stream's write-ahead log, when the
	// receiver logs.
	walKey string
}

// cutResult is a batch a host cut, or a backup sealed.
type cutResult struct {
	parts     int
	exhausted bool
	backup    string
	walKeys   []string
}

// receiverWorker is what hosting needs of the executor's worker context.
type receiverWorker interface {
	HostReceiver(ctx context.Context, node int, storeBlock func(context.Context, []byte) error) (runtime.HostedReceiver, error)
	ReceiverLog(node int, epoch int64) (func(context.Context, []byte) (string, error), error)
	PutReceivedBlock(node int, t runtime.Time, p int, data []byte)
	ForgetReceived(committed runtime.Time)
}

// hosting is one executor's receivers and replicas, for one session with
// the driver: a new session starts empty.
type hosting struct {
	log    *slog.Logger
	worker func() receiverWorker
	push   func(ctx context.Context, addr string, h *pb.ReplicaHeader, blocks [][]byte) error

	mu       sync.Mutex
	hosted   map[int]*hostedInput
	replicas map[int]*replicaSet
}

// replicaSet is what a backup holds for one receiver: its pending blocks
// and the batches it sealed here.
type replicaSet struct {
	pending map[int64]pendingBlock
	cuts    map[runtime.Time]cutResult
}

func newHosting(log *slog.Logger, worker func() receiverWorker, push func(context.Context, string, *pb.ReplicaHeader, [][]byte) error) *hosting {
	return &hosting{log: log, worker: worker, push: push, hosted: map[int]*hostedInput{}, replicas: map[int]*replicaSet{}}
}

// hostedInput is one receiver this executor runs.
type hostedInput struct {
	node int
	log  *slog.Logger
	h    *hosting
	ctx  context.Context // ends when the receiver stops
	stop context.CancelFunc
	done chan struct{} // closed when the block-interval flusher exits

	// mu serializes stores, block-interval flushes, cuts and backup
	// changes: under it, every pending block is at the current backup.
	mu   sync.Mutex
	recv runtime.HostedReceiver
	// logBlock writes a block to the stream's write-ahead log; nil when
	// the receiver does not log.
	logBlock func(context.Context, []byte) (string, error)
	version  int64
	backup   string
	nextSeq  int64
	pending  []pendingBlock
	cuts     map[runtime.Time]cutResult
	stopped  bool
}

// assign starts node's receiver here, or changes its backup. A receiver
// this executor held replicas of continues from them. The receiver starts
// once its backup holds those replicas, so that from its first block on,
// everything it stores is replicated.
func (h *hosting) assign(ctx context.Context, a *pb.AssignReceiver) {
	node := int(a.Node)
	w := h.worker()
	if w == nil {
		h.log.Error("receiver assigned before the job was built", "node", node)
		return
	}
	var logBlock func(context.Context, []byte) (string, error)
	if a.LogEpoch != 0 {
		var err error
		if logBlock, err = w.ReceiverLog(node, a.LogEpoch); err != nil {
			h.log.Error("the receiver's write-ahead log", "node", node, "error", err)
			return
		}
	}
	h.mu.Lock()
	in, ok := h.hosted[node]
	if !ok {
		in = h.adoptLocked(ctx, node)
	}
	h.mu.Unlock()
	in.mu.Lock()
	in.logBlock = logBlock
	in.mu.Unlock()
	go func() {
		in.setBackup(in.ctx, a.BackupAddress, a.Version)
		if err := in.start(w); err != nil {
			in.log.Error("starting the receiver", "error", err)
		}
	}()
}

// adoptLocked registers node's receiver, with the replicas this executor
// holds of it: it was the backup, and what it holds was replicated, so a
// reliable receiver's source will not send it again.
func (h *hosting) adoptLocked(ctx context.Context, node int) *hostedInput {
	rctx, cancel := context.WithCancel(ctx)
	in := &hostedInput{node: node, log: h.log.With("node", node), h: h, ctx: rctx, stop: cancel, done: make(chan struct{}),
		cuts: map[runtime.Time]cutResult{}}
	if r, ok := h.replicas[node]; ok {
		seqs := make([]int64, 0, len(r.pending))
		for seq := range r.pending {
			seqs = append(seqs, seq)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		for _, seq := range seqs {
			in.pending = append(in.pending, r.pending[seq])
			in.nextSeq = seq + 1
		}
		for t, c := range r.cuts {
			c.backup = ""
			in.cuts[t] = c
		}
		delete(h.replicas, node)
		in.log.Info("taking over a receiver from its lost executor", "pendingBlocks", len(seqs), "batches", len(r.cuts))
	}
	h.hosted[node] = in
	return in
}

// start starts the receiver, once.
func (in *hostedInput) start(w receiverWorker) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.recv != nil || in.stopped {
		return nil
	}
	recv, err := w.HostReceiver(in.ctx, in.node, in.storeBlock)
	if err != nil {
		return err
	}
	in.recv = recv
	go in.flushEvery(in.ctx, blockInterval)
	in.log.Info("receiver started", "backup", in.backup)
	return nil
}

// stopReceiver stops node's receiver.
func (h *hosting) stopReceiver(node int) {
	h.mu.Lock()
	in, ok := h.hosted[node]
	delete(h.hosted, node)
	h.mu.Unlock()
	if ok {
		in.close()
	}
}

// reset stops every receiver and drops every replica: the session they
// belonged to ended, and the driver has placed them elsewhere.
func (h *hosting) reset() {
	h.mu.Lock()
	hosted := h.hosted
	h.hosted, h.replicas = map[int]*hostedInput{}, map[int]*replicaSet{}
	h.mu.Unlock()
	for _, in := range hosted {
		in.close()
	}
}

func (in *hostedInput) close() {
	in.mu.Lock()
	in.stopped = true
	recv := in.recv
	in.mu.Unlock()
	in.stop()
	if recv == nil {
		return
	}
	<-in.done
	if err := recv.Stop(); err != nil {
		in.log.Warn("stopping receiver", "error", err)
	}
}

// setBackup makes addr the backup, copying every pending block there first.
func (in *hostedInput) setBackup(ctx context.Context, addr string, version int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if version < in.version || in.stopped {
		return
	}
	in.version = version
	if addr == in.backup {
		return
	}
	in.backup = addr
	if addr == "" {
		in.log.Warn("no backup executor: received blocks have a single copy until another executor joins")
		return
	}
	hdr := &pb.ReplicaHeader{Node: int32(in.node), Reset_: true}
	var blocks [][]byte
	for _, b := range in.pending {
		hdr.PendingSeqs = append(hdr.PendingSeqs, b.seq)
		blocks = append(blocks, b.data)
		if in.logBlock != nil {
			hdr.WalKeys = append(hdr.WalKeys, b.walKey)
		}
	}
	if err := in.pushLocked(ctx, hdr, blocks); err != nil {
		in.log.Warn("copying pending blocks to the new backup", "backup", addr, "error", err)
		in.backup = ""
	}
}

func (in *hostedInput) pushLocked(ctx context.Context, hdr *pb.ReplicaHeader, blocks [][]byte) error {
	hdr.Blocks = int32(len(blocks))
	ctx, cancel := context.WithTimeout(ctx, replicateTimeout)
	defer cancel()
	return in.h.push(ctx, in.backup, hdr, blocks)
}

// storeBlock is a receiver's StoreBlock: it returns once the block is here
// and at the backup, so a reliable receiver acknowledges only replicated
// data. A failed copy stores nothing; the receiver is restarted and its
// source sends the block again.
func (in *hostedInput) storeBlock(ctx context.Context, data []byte) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return errors.New("the receiver was stopped")
	}
	b := pendingBlock{seq: in.nextSeq, data: data}
	var err error
	if b.walKey, err = in.logLocked(ctx, data); err != nil {
		return err
	}
	if err := in.replicatePendingLocked(ctx, b); err != nil {
		return err
	}
	in.addPendingLocked(b)
	return nil
}

// logLocked writes a block to the write-ahead log, if the receiver logs,
// and returns its key.
func (in *hostedInput) logLocked(ctx context.Context, data []byte) (string, error) {
	if in.logBlock == nil {
		return "", nil
	}
	return in.logBlock(ctx, data)
}

// replicatePendingLocked copies a pending block to the backup, if there is
// one.
func (in *hostedInput) replicatePendingLocked(ctx context.Context, b pendingBlock) error {
	if in.backup == "" {
		return nil
	}
	hdr := &pb.ReplicaHeader{Node: int32(in.node), PendingSeqs: []int64{b.seq}}
	if b.walKey != "" {
		hdr.WalKeys = []string{b.walKey}
	}
	if err := in.pushLocked(ctx, hdr, [][]byte{b.data}); err != nil {
		return fmt.Errorf("replicating a received block to %s: %w", in.backup, err)
	}
	return nil
}

func (in *hostedInput) addPendingLocked(b pendingBlock) {
	b.seq = in.nextSeq
	in.nextSeq++
	in.pending = append(in.pending, b)
}

// flushEvery makes a block of the records stored one by one, at every
// block interval, so that they are replicated long before the batch ends.
func (in *hostedInput) flushEvery(ctx context.Context, interval time.Duration) {
	defer close(in.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		in.mu.Lock()
		data, _, err := in.recv.TakeBuffered()
		if err != nil {
			in.log.Error("taking received records", "error", err)
		}
		if data != nil {
			b := pendingBlock{seq: in.nextSeq, data: data}
			if b.walKey, err = in.logLocked(ctx, data); err != nil {
				// Kept unlogged: the batch that reads it fails, saying so.
				in.log.Error("received records could not be logged", "error", err)
			}
			in.addPendingLocked(b)
			if err := in.replicatePendingLocked(ctx, b); err != nil {
				// The records cannot be received again; keep the one copy.
				in.log.Warn("received records have a single copy", "error", err)
			}
		}
		in.mu.Unlock()
	}
}

// cut makes the batch at t of everything received since the last cut, and
// replicates it. Asking again for t gives the first answer.
func (in *hostedInput) cut(ctx context.Context, t, committed runtime.Time) (cutResult, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return cutResult{}, errors.New("the receiver was stopped")
	}
	for old := range in.cuts {
		if old <= committed {
			delete(in.cuts, old)
		}
	}
	if c, ok := in.cuts[t]; ok {
		return c, nil
	}
	var buffered []byte
	finished := false
	if in.recv != nil { // nil until its backup holds the adopted replicas
		var err error
		if buffered, finished, err = in.recv.TakeBuffered(); err != nil {
			return cutResult{}, err
		}
	}
	hdr := &pb.ReplicaHeader{Node: int32(in.node), Seal: true, BatchTimeMs: int64(t), Exhausted: finished}
	parts := make([][]byte, 0, len(in.pending)+1)
	var keys []string
	for _, b := range in.pending {
		hdr.SealedSeqs = append(hdr.SealedSeqs, b.seq)
		parts = append(parts, b.data)
		keys = append(keys, b.walKey)
	}
	var extra [][]byte
	if buffered != nil {
		key, err := in.logLocked(ctx, buffered)
		if err != nil {
			return cutResult{}, err
		}
		extra = [][]byte{buffered}
		parts, keys = append(parts, buffered), append(keys, key)
		if key != "" {
			hdr.WalKeys = []string{key}
		}
	}
	res := cutResult{parts: len(parts), exhausted: finished, backup: in.backup}
	if in.logBlock != nil {
		res.walKeys = keys
	}
	if in.backup != "" {
		if err := in.pushLocked(ctx, hdr, extra); err != nil {
			in.log.Warn("replicating a batch's received input; it has a single copy", "batch", t, "backup", in.backup, "error", err)
			res.backup = ""
		}
	}
	w := in.h.worker()
	w.ForgetReceived(committed)
	for p, data := range parts {
		w.PutReceivedBlock(in.node, t, p, data)
	}
	in.pending = nil
	in.cuts[t] = res
	return res, nil
}

// cutReceiver answers the driver's CutReceiver.
func (h *hosting) cutReceiver(ctx context.Context, req *pb.CutReceiver) *pb.ReceiverCut {
	out := &pb.ReceiverCut{RequestId: req.RequestId}
	h.mu.Lock()
	in, ok := h.hosted[int(req.Node)]
	h.mu.Unlock()
	if !ok {
		out.NotHosting = true
		return out
	}
	res, err := in.cut(ctx, runtime.Time(req.BatchTimeMs), runtime.Time(req.CommittedMs))
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Ok, out.Partitions, out.Exhausted, out.BackupAddress, out.WalKeys = true, int32(res.parts), res.exhausted, res.backup, res.walKeys
	return out
}

// applyReplica stores what a host pushed: pending blocks, or a sealed batch.
func (h *hosting) applyReplica(hdr *pb.ReplicaHeader, blocks [][]byte) error {
	node := int(hdr.Node)
	w := h.worker()
	if w == nil {
		return errors.New("this executor has no job yet")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.replicas[node]
	if r == nil || hdr.Reset_ {
		r = &replicaSet{pending: map[int64]pendingBlock{}, cuts: map[runtime.Time]cutResult{}}
		h.replicas[node] = r
	}
	keyOf := func(i int) string {
		if i < len(hdr.WalKeys) {
			return hdr.WalKeys[i]
		}
		return ""
	}
	if !hdr.Seal {
		for i, seq := range hdr.PendingSeqs {
			r.pending[seq] = pendingBlock{seq: seq, data: blocks[i], walKey: keyOf(i)}
		}
		return nil
	}
	t := runtime.Time(hdr.BatchTimeMs)
	parts := make([][]byte, 0, len(hdr.SealedSeqs)+len(blocks))
	var keys []string
	for _, seq := range hdr.SealedSeqs {
		b, ok := r.pending[seq]
		if !ok {
			return fmt.Errorf("batch %s of node %d seals block %d, which was never replicated here", t, node, seq)
		}
		parts, keys = append(parts, b.data), append(keys, b.walKey)
	}
	parts = append(parts, blocks...)
	for i := range blocks {
		keys = append(keys, keyOf(i))
	}
	for p, data := range parts {
		w.PutReceivedBlock(node, t, p, data)
	}
	for _, seq := range hdr.SealedSeqs {
		delete(r.pending, seq)
	}
	for old := range r.cuts {
		if old < t {
			// Batches are sealed in order; the host will not be asked
			// again for one this old once it is replaced.
			delete(r.cuts, old)
		}
	}
	res := cutResult{parts: len(parts), exhausted: hdr.Exhausted}
	if slices.ContainsFunc(keys, func(k string) bool { return k != "" }) {
		res.walKeys = keys
	}
	r.cuts[t] = res
	return nil
}

// validateReplicaHeader checks a Replicate stream's header before any of
// its blocks are read.
func validateReplicaHeader(h *pb.ReplicaHeader) error {
	switch {
	case h == nil:
		return errors.New("the first chunk of a replica must carry its header")
	case h.Node < 1:
		return fmt.Errorf("replica header: node %d", h.Node)
	case h.Blocks < 0 || h.Blocks > maxReplicaBlocks:
		return fmt.Errorf("replica header: %d blocks (at most %d)", h.Blocks, maxReplicaBlocks)
	case len(h.WalKeys) > 0 && len(h.WalKeys) != int(h.Blocks):
		return fmt.Errorf("replica header: %d log keys for %d blocks", len(h.WalKeys), h.Blocks)
	case !h.Seal && len(h.PendingSeqs) != int(h.Blocks):
		return fmt.Errorf("replica header: %d pending sequence numbers for %d blocks", len(h.PendingSeqs), h.Blocks)
	case h.Seal && len(h.PendingSeqs) > 0:
		return errors.New("replica header: a seal carries no pending blocks")
	case h.Seal && h.BatchTimeMs <= 0:
		return fmt.Errorf("replica header: a seal of batch time %d", h.BatchTimeMs)
	}
	return nil
}

// executorService is the Executor service of an executor process: its
// blocks, and the replicas its peers push.
type executorService struct {
	*blockServer
	hosting *hosting
}

// Replicate implements the Executor service: it reads a whole change and
// applies it only if the stream ended cleanly with every block whole.
func (x *executorService) Replicate(stream pb.Executor_ReplicateServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hdr := first.Header
	if err := validateReplicaHeader(hdr); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	blocks := make([][]byte, hdr.Blocks)
	seen := make([]bool, hdr.Blocks)
	last := 0
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		i := int(chunk.Block)
		switch {
		case chunk.Header != nil:
			return status.Error(codes.InvalidArgument, "a replica stream carries one header")
		case i < 0 || i >= int(hdr.Blocks):
			return status.Errorf(codes.InvalidArgument, "replica chunk for block %d of %d", i, hdr.Blocks)
		case i < last:
			return status.Errorf(codes.InvalidArgument, "replica chunk for block %d after block %d", i, last)
		case len(blocks[i])+len(chunk.Data) > maxBlockBytes:
			return status.Errorf(codes.InvalidArgument, "replica block %d exceeds %d bytes", i, maxBlockBytes)
		}
		last, seen[i] = i, true
		blocks[i] = append(blocks[i], chunk.Data...)
	}
	for i, ok := range seen {
		if !ok {
			return status.Errorf(codes.InvalidArgument, "replica stream ended without block %d", i)
		}
	}
	if err := x.hosting.applyReplica(hdr, blocks); err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return stream.SendAndClose(&pb.ReplicateReply{})
}
