package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
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
	// Secret authenticates the executor to the driver and peers to it. Required.
	Secret string
	// Cores and MemoryBytes are reported to the driver; MemoryBytes also
	// bounds the block store.
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
	cfg    ExecutorConfig
	log    *slog.Logger
	store  *BlockStore
	blocks *grpc.Server
}

// NewExecutor prepares an executor; Run starts it.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	if cfg.Secret == "" {
		return nil, ErrNoSecret
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	e := &Executor{cfg: cfg, log: cfg.Logger.With("executor", cfg.ID), store: NewBlockStore(cfg.MemoryBytes)}
	e.blocks = grpc.NewServer(serverOptions(cfg.Secret)...)
	pb.RegisterExecutorServer(e.blocks, &blockServer{store: e.store})
	return e, nil
}

// Store returns the executor's block store.
func (e *Executor) Store() *BlockStore { return e.store }

// Run serves blocks on lis and keeps a session with the driver until ctx
// ends (nil), the driver says to shut down (nil) or the driver stays
// unreachable for DriverLossTimeout (ErrDriverLost).
func (e *Executor) Run(ctx context.Context, lis net.Listener) error {
	go func() { _ = e.blocks.Serve(lis) }()
	defer e.blocks.Stop()
	advertise := e.cfg.AdvertiseAddress
	if advertise == "" {
		advertise = lis.Addr().String()
	}
	conn, err := grpc.NewClient(e.cfg.DriverAddress, dialOptions(e.cfg.Secret)...)
	if err != nil {
		return fmt.Errorf("driver address %q: %w", e.cfg.DriverAddress, err)
	}
	defer conn.Close()
	client := pb.NewDriverClient(conn)

	lastContact := time.Now()
	backoff := 100 * time.Millisecond
	for {
		connected, done, err := e.session(ctx, client, advertise)
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
	stream, err := client.Session(sctx)
	if err != nil {
		return false, false, err
	}
	hello := &pb.Hello{ExecutorId: e.cfg.ID, BlockAddress: advertise, Cores: int32(e.cfg.Cores), MemoryBytes: e.cfg.MemoryBytes}
	if err := stream.Send(&pb.ExecutorMessage{Kind: &pb.ExecutorMessage_Hello{Hello: hello}}); err != nil {
		return false, false, err
	}
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
	e.log.Info("registered with the driver", "driverEpoch", welcome.DriverEpoch)
	interval := time.Duration(welcome.HeartbeatIntervalMs) * time.Millisecond
	if interval <= 0 {
		interval = time.Second
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			hb := &pb.Heartbeat{SentUnixMs: time.Now().UnixMilli(), StoredBytes: e.store.Used()}
			if err := stream.Send(&pb.ExecutorMessage{Kind: &pb.ExecutorMessage_Heartbeat{Heartbeat: hb}}); err != nil {
				return
			}
		}
	}()
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
			// This executor knows no stages yet, so every task is unknown to
			// it; it answers with an error rather than dropping the request.
			res := &pb.TaskResult{TaskId: k.RunTask.TaskId, Error: fmt.Sprintf("unknown stage %v", k.RunTask.Stage)}
			if err := stream.Send(&pb.ExecutorMessage{Kind: &pb.ExecutorMessage_TaskResult{TaskResult: res}}); err != nil {
				return true, false, err
			}
		}
	}
}

func statusNotFound(id string) error {
	return status.Errorf(codes.NotFound, "no block %q", id)
}
