package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/metrics"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tributary-dev/tributary/runtime"
	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
	"github.com/tributary-dev/tributary/runtime/pipeline"
)

// ExecutorConfig configures an executor process.
type ExecutorConfig struct {
	// ID names the executor; it stays the same when it reconnects.
	ID string
	// DriverAddress is the driver's gRPC address (host:port).
	DriverAddress string
	// AdvertiseAddress is where peers reach this executor's blocks. Empty
	// means the block listener's address.
	AdvertiseAddress string
	// Auth authenticates the executor to the driver and peers to it: a
	// shared secret, mTLS, or both. Required.
	Auth Auth
	// Cores bounds the tasks run at once. MemoryBytes bounds the heap: an
	// executor over it refuses new tasks, which the driver places elsewhere
	// (cmd/executor also makes it the Go runtime's soft memory limit).
	Cores       int
	MemoryBytes int64
	// DriverLossTimeout is how long the executor keeps trying to reach a
	// lost driver (to re-register with a new one) before it exits with
	// ErrDriverLost. Zero means 30s.
	DriverLossTimeout time.Duration
	Logger            *slog.Logger
}

// ErrDriverLost is returned by Run when the driver stayed unreachable for
// DriverLossTimeout.
var ErrDriverLost = errors.New("driver lost")

// Executor is one executor process's runtime.
type Executor struct {
	cfg     ExecutorConfig
	log     *slog.Logger
	server  *grpc.Server
	blocks  *blockServer
	fetcher *fetcher
	slots   chan struct{} // one per core: bounds concurrent tasks
	hosting *hosting

	mu     sync.Mutex
	epoch  string
	worker *runtime.Context // built from the driver's job
}

// NewExecutor prepares an executor; Run starts it.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	if err := cfg.Auth.load(); err != nil {
		return nil, err
	}
	if cfg.ID == "" || cfg.DriverAddress == "" {
		return nil, errors.New("executor needs an ID and the driver's address")
	}
	if cfg.DriverLossTimeout <= 0 {
		cfg.DriverLossTimeout = 30 * time.Second
	}
	if cfg.MemoryBytes <= 0 {
		cfg.MemoryBytes = 1 << 30
	}
	if cfg.Cores <= 0 {
		cfg.Cores = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Executor{cfg: cfg, log: cfg.Logger.With("executor", cfg.ID), blocks: &blockServer{},
		fetcher: newFetcher(&cfg.Auth), slots: make(chan struct{}, cfg.Cores)}
	e.hosting = newHosting(e.log, e.receiverWorker, e.fetcher.replicate)
	e.server = grpc.NewServer(serverOptions(&e.cfg.Auth)...)
	pb.RegisterExecutorServer(e.server, &executorService{blockServer: e.blocks, hosting: e.hosting})
	return e, nil
}

// adopt builds the worker context for a driver's job, once per driver
// incarnation: the same manifest and parallelism give the same graph.
func (e *Executor) adopt(w *pb.Welcome) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.worker != nil && e.epoch == w.DriverEpoch {
		return nil
	}
	if w.JobYaml == "" {
		return errors.New("the driver sent no job")
	}
	job, err := pipeline.Parse([]byte(w.JobYaml))
	if err != nil {
		return fmt.Errorf("the driver's job: %w", err)
	}
	worker, err := job.Build(pipeline.Options{Parallelism: int(w.Parallelism), Workers: e.cfg.Cores,
		Stdout: io.Discard, Logger: e.log, FetchBlock: e.fetcher.fetch})
	if err != nil {
		return fmt.Errorf("building the driver's job: %w", err)
	}
	e.worker, e.epoch = worker, w.DriverEpoch
	e.blocks.setSource(worker.EncodedBlock)
	return nil
}

// receiverWorker returns the worker context, once the driver's job is built.
func (e *Executor) receiverWorker() receiverWorker {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.worker == nil {
		return nil
	}
	return e.worker
}

// runTask runs a task on the worker context and reports its result.
func (e *Executor) runTask(ctx context.Context, rt *pb.RunTask, report func(*pb.TaskResult)) {
	start := time.Now()
	res := &pb.TaskResult{TaskId: rt.TaskId, Ok: true}
	spec, err := fromRunTask(rt)
	if err == nil {
		err = e.admit()
	}
	if err == nil {
		e.mu.Lock()
		worker := e.worker
		e.mu.Unlock()
		select {
		case e.slots <- struct{}{}:
			err = worker.RunTask(ctx, spec)
			<-e.slots
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		res.Ok, res.Error = false, err.Error()
		var missing *runtime.MissingBlockError
		if errors.As(err, &missing) && missing.Address != "" && errors.Is(missing.Err, runtime.ErrBlockNotHeld) {
			res.MissingBlock, res.MissingAt = missing.ID.String(), missing.Address
		}
	}
	res.DurationUs = time.Since(start).Microseconds()
	report(res)
}

// Run serves blocks on lis and keeps a session with the driver until ctx
// ends (nil), the driver says to shut down (nil) or the driver stays
// unreachable for DriverLossTimeout (ErrDriverLost).
func (e *Executor) Run(ctx context.Context, lis net.Listener) error {
	go func() { _ = e.server.Serve(lis) }()
	defer e.server.Stop()
	defer e.fetcher.close()
	advertise := e.cfg.AdvertiseAddress
	if advertise == "" {
		advertise = lis.Addr().String()
	}
	lastContact := time.Now()
	backoff := 100 * time.Millisecond
	for {
		// A connection per session: a replaced driver (a new pod, with a
		// new IP behind the same name) is resolved afresh, rather than
		// after gRPC's DNS re-resolution interval of 30 s.
		conn, err := grpc.NewClient(e.cfg.DriverAddress, dialOptions(&e.cfg.Auth)...)
		if err != nil {
			return fmt.Errorf("driver address %q: %w", e.cfg.DriverAddress, err)
		}
		connected, done, err := e.session(ctx, pb.NewDriverClient(conn), advertise)
		conn.Close()
		if done || ctx.Err() != nil {
			return err
		}
		if connected {
			lastContact, backoff = time.Now(), 100*time.Millisecond
		}
		if time.Since(lastContact) > e.cfg.DriverLossTimeout {
			e.log.Error("driver unreachable; exiting", "timeout", e.cfg.DriverLossTimeout, "error", err)
			return fmt.Errorf("%w: unreachable for %s: %v", ErrDriverLost, e.cfg.DriverLossTimeout, err)
		}
		e.log.Warn("session with the driver ended; reconnecting", "error", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// session runs one session. connected reports that the driver welcomed
// the executor; done that the executor must stop (shutdown or a refusal
// that retrying cannot fix).
func (e *Executor) session(ctx context.Context, client pb.DriverClient, advertise string) (connected, done bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The driver places this session's receivers elsewhere once it ends.
	defer e.hosting.reset()
	stream, err := client.Session(sctx)
	if err != nil {
		return false, false, err
	}
	hello := &pb.Hello{ExecutorId: e.cfg.ID, BlockAddress: advertise, Cores: int32(e.cfg.Cores), MemoryBytes: e.cfg.MemoryBytes}
	if err := stream.Send(&pb.ExecutorMessage{Kind: &pb.ExecutorMessage_Hello{Hello: hello}}); err != nil && !errors.Is(err, io.EOF) {
		return false, false, err
	}
	// After a refused hello, Send may report only io.EOF; Recv has the
	// driver's status.
	first, err := stream.Recv()
	if err != nil {
		code := status.Code(err)
		// A wrong secret or a refused registration will not fix itself.
		return false, code == codes.Unauthenticated || code == codes.InvalidArgument, err
	}
	welcome := first.GetWelcome()
	if welcome == nil {
		return false, false, errors.New("driver did not welcome the executor")
	}
	if err := e.adopt(welcome); err != nil {
		return false, true, err
	}
	e.log.Info("registered with the driver", "driverEpoch", welcome.DriverEpoch)
	interval := time.Duration(welcome.HeartbeatIntervalMs) * time.Millisecond
	if interval <= 0 {
		interval = time.Second
	}

	// One goroutine sends: gRPC streams allow one sender at a time.
	// Heartbeats and task results queue in the outbox.
	outbox := make(chan *pb.ExecutorMessage, 64)
	post := func(m *pb.ExecutorMessage) {
		select {
		case outbox <- m:
		case <-sctx.Done():
		}
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			var m *pb.ExecutorMessage
			select {
			case <-sctx.Done():
				return
			case m = <-outbox:
			case <-t.C:
				m = &pb.ExecutorMessage{Kind: &pb.ExecutorMessage_Heartbeat{Heartbeat: &pb.Heartbeat{
					SentUnixMs: time.Now().UnixMilli(), RunningTasks: int32(len(e.slots))}}}
			}
			if err := stream.Send(m); err != nil {
				cancel()
				return
			}
		}
	}()
	report := func(r *pb.TaskResult) {
		post(&pb.ExecutorMessage{Kind: &pb.ExecutorMessage_TaskResult{TaskResult: r}})
	}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return true, false, errors.New("driver closed the session")
		}
		if err != nil {
			return true, false, err
		}
		switch k := m.Kind.(type) {
		case *pb.DriverMessage_Shutdown:
			e.log.Info("driver asked to shut down", "reason", k.Shutdown.Reason)
			return true, true, nil
		case *pb.DriverMessage_RunTask:
			go e.runTask(sctx, k.RunTask, report)
		case *pb.DriverMessage_AssignReceiver:
			e.hosting.assign(sctx, k.AssignReceiver)
		case *pb.DriverMessage_StopReceiver:
			e.hosting.stopReceiver(int(k.StopReceiver.Node))
		case *pb.DriverMessage_CutReceiver:
			go func() {
				cut := e.hosting.cutReceiver(sctx, k.CutReceiver)
				post(&pb.ExecutorMessage{Kind: &pb.ExecutorMessage_ReceiverCut{ReceiverCut: cut}})
			}()
		}
	}
}

// heapBytes reads the bytes of live and not yet collected heap objects.
func heapBytes() int64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(sample[0].Value.Uint64())
}

// admit refuses a task while the heap is over the executor's bound: the
// driver retries it elsewhere rather than this process running out of memory.
func (e *Executor) admit() error {
	if used := heapBytes(); used > e.cfg.MemoryBytes {
		return fmt.Errorf("executor %s is over its memory bound (%d of %d bytes in use)", e.cfg.ID, used, e.cfg.MemoryBytes)
	}
	return nil
}
