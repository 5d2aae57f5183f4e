package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tributary-dev/tributary/runtime"
	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

// DriverConfig configures the driver's side of the cluster.
type DriverConfig struct {
	// Auth authenticates executors: a shared secret, mTLS, or both. Required.
	Auth Auth
	// HeartbeatInterval is how often executors heartbeat. Zero means 1s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout declares an executor lost when its session is still
	// open but it has not heartbeated for this long: the fallback to
	// connection loss. Zero means 5 heartbeat intervals.
	HeartbeatTimeout time.Duration
	// Epoch identifies this driver incarnation to executors.
	Epoch string
	// KeepLost is how many lost executors the status remembers. Zero means 32.
	KeepLost int
	// JobYAML and Parallelism are sent to every executor, which builds the
	// same graph from them.
	JobYAML     string
	Parallelism int
	Logger      *slog.Logger
}

func (c DriverConfig) withDefaults() (DriverConfig, error) {
	if err := c.Auth.load(); err != nil {
		return c, err
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 5 * c.HeartbeatInterval
	}
	if c.KeepLost <= 0 {
		c.KeepLost = 32
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Epoch == "" {
		c.Epoch = fmt.Sprintf("%d", time.Now().UnixNano())
	}
	return c, nil
}

// ExecutorStatus is what the driver knows of one executor.
type ExecutorStatus struct {
	ID            string    `json:"id"`
	BlockAddress  string    `json:"blockAddress"`
	Cores         int32     `json:"cores"`
	MemoryBytes   int64     `json:"memoryBytes"`
	State         string    `json:"state"` // alive or lost
	RegisteredAt  time.Time `json:"registeredAt"`
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	RunningTasks  int32     `json:"runningTasks"`
	// Draining executors get no new tasks: they are about to be removed.
	Draining bool `json:"draining,omitempty"`
	// TasksCompleted counts the tasks this executor finished.
	TasksCompleted int64      `json:"tasksCompleted"`
	LostAt         *time.Time `json:"lostAt,omitempty"`
	LostReason     string     `json:"lostReason,omitempty"`
}

// Executor states.
const (
	ExecutorAlive = "alive"
	ExecutorLost  = "lost"
)

// Driver tracks the executors of one job.
type Driver struct {
	pb.UnimplementedDriverServer
	cfg DriverConfig
	log *slog.Logger
	srv *grpc.Server

	blocks *blockServer

	mu        sync.Mutex
	executors map[string]*session
	lost      []ExecutorStatus
	onLost    []func(ExecutorStatus)
	stop      chan struct{}
	reason    string
	joined    chan struct{} // closed and replaced when an executor registers
	taskSeq   atomic.Int64
	next      int               // round-robin cursor over executors
	runningOn map[string]string // stage key and partition -> executor running it
	receivers map[int]*placement
}

// session is one executor's open Session stream.
type session struct {
	status  ExecutorStatus
	cancel  context.CancelCauseFunc
	send    chan *pb.DriverMessage
	done    <-chan struct{}             // closed when the session ends
	pending map[string]chan taskOutcome // request ID -> result; guarded by Driver.mu
	running int                         // guarded by Driver.mu
}

// taskOutcome answers a request on a session: a task, or a receiver's cut.
type taskOutcome struct {
	err error
	cut *pb.ReceiverCut
}

// NewDriver returns a driver that serves executors once Serve is called.
func NewDriver(cfg DriverConfig) (*Driver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Driver{cfg: cfg, log: cfg.Logger, executors: map[string]*session{}, stop: make(chan struct{}),
		joined: make(chan struct{}), blocks: &blockServer{}, runningOn: map[string]string{}, receivers: map[int]*placement{}}
	d.srv = grpc.NewServer(serverOptions(&d.cfg.Auth)...)
	pb.RegisterDriverServer(d.srv, d)
	// The driver serves blocks too: input batches and driver-only stages.
	pb.RegisterExecutorServer(d.srv, d.blocks)
	return d, nil
}

// ServeBlocks makes the driver serve the blocks source returns.
func (d *Driver) ServeBlocks(source func(runtime.BlockID) ([]byte, error)) {
	d.blocks.setSource(source)
}

// OnExecutorLost registers f to be called, once, when an executor is lost.
func (d *Driver) OnExecutorLost(f func(ExecutorStatus)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onLost = append(d.onLost, f)
}

// Serve accepts executors on lis until Stop.
func (d *Driver) Serve(lis net.Listener) error {
	go d.watchHeartbeats()
	err := d.srv.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop tells every executor to shut down and stops serving.
func (d *Driver) Stop(reason string) {
	d.mu.Lock()
	select {
	case <-d.stop:
		d.mu.Unlock()
		return
	default:
		d.reason = reason
		close(d.stop)
	}
	d.mu.Unlock()
	d.srv.GracefulStop()
}

func (d *Driver) shutdownMessage() *pb.DriverMessage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return &pb.DriverMessage{Kind: &pb.DriverMessage_Shutdown{Shutdown: &pb.Shutdown{Reason: d.reason}}}
}

// Executors returns the alive executors, then the most recently lost ones.
func (d *Driver) Executors() []ExecutorStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ExecutorStatus, 0, len(d.executors)+len(d.lost))
	for _, s := range d.executors {
		out = append(out, s.status)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return append(out, d.lost...)
}

// Drain stops giving tasks to executor id, unless no other executor is
// alive, and returns how many it still runs; ok is false when it is not
// registered. Its blocks stay readable until it goes, then are recomputed
// from lineage where still needed, and a receiver it hosts moves to its
// backup, which holds the replicas.
func (d *Driver) Drain(id string) (running int, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.executors[id]
	if !ok {
		return 0, false
	}
	if !s.status.Draining {
		d.log.Info("draining executor", "executor", id)
	}
	s.status.Draining = true
	return s.running, true
}

// AliveExecutors counts the executors currently registered.
func (d *Driver) AliveExecutors() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.executors)
}

// Session implements the Driver service.
func (d *Driver) Session(stream pb.Driver_SessionServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if err := validateHello(hello); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	now := time.Now()
	s := &session{cancel: cancel, done: ctx.Done(), send: make(chan *pb.DriverMessage, 64), pending: map[string]chan taskOutcome{}, status: ExecutorStatus{
		ID: hello.ExecutorId, BlockAddress: hello.BlockAddress, Cores: hello.Cores, MemoryBytes: hello.MemoryBytes,
		State: ExecutorAlive, RegisteredAt: now, LastHeartbeat: now,
	}}
	d.mu.Lock()
	select {
	case <-d.stop:
		d.mu.Unlock()
		return status.Error(codes.Unavailable, "driver is stopping")
	default:
	}
	if old, ok := d.executors[hello.ExecutorId]; ok {
		// The same executor reconnected: its old stream is stale.
		old.cancel(errors.New("replaced by a new session"))
	}
	d.executors[hello.ExecutorId] = s
	close(d.joined)
	d.joined = make(chan struct{})
	// A receiver without a host or a backup gets one. The assignment is
	// queued behind the welcome, which this goroutine sends first.
	d.postAll(d.placeReceiversLocked())
	d.mu.Unlock()
	d.log.Info("executor registered", "executor", hello.ExecutorId, "blockAddress", hello.BlockAddress, "cores", hello.Cores)

	if err := stream.Send(&pb.DriverMessage{Kind: &pb.DriverMessage_Welcome{Welcome: &pb.Welcome{
		HeartbeatIntervalMs: d.cfg.HeartbeatInterval.Milliseconds(), DriverEpoch: d.cfg.Epoch,
		JobYaml: d.cfg.JobYAML, Parallelism: int32(d.cfg.Parallelism),
	}}}); err != nil {
		d.lose(s, "connection lost: "+err.Error())
		return err
	}

	msgs := make(chan *pb.ExecutorMessage)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case m := <-s.send:
			if err := stream.Send(m); err != nil {
				d.lose(s, "connection lost: "+err.Error())
				return err
			}
		case m := <-msgs:
			if err := d.handle(s, m); err != nil {
				d.lose(s, err.Error())
				return status.Error(codes.InvalidArgument, err.Error())
			}
		case err := <-recvErr:
			reason := "connection lost"
			if !errors.Is(err, io.EOF) {
				reason += ": " + status.Convert(err).Message()
			}
			d.lose(s, reason)
			return nil
		case <-ctx.Done():
			cause := context.Cause(ctx)
			reason := cause.Error()
			if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
				// The stream's own context ended: the executor hung up.
				reason = "connection lost"
			}
			d.lose(s, reason)
			return status.Error(codes.Aborted, reason)
		case <-d.stop:
			_ = stream.Send(d.shutdownMessage())
			d.lose(s, "driver stopping")
			return nil
		}
	}
}

func (d *Driver) handle(s *session, m *pb.ExecutorMessage) error {
	switch k := m.Kind.(type) {
	case *pb.ExecutorMessage_Heartbeat:
		d.mu.Lock()
		s.status.LastHeartbeat = time.Now()
		s.status.RunningTasks = k.Heartbeat.RunningTasks
		d.mu.Unlock()
		return nil
	case *pb.ExecutorMessage_Hello:
		return errors.New("hello sent twice on one session")
	case *pb.ExecutorMessage_ReceiverCut:
		r := k.ReceiverCut
		d.mu.Lock()
		ch, ok := s.pending[r.RequestId]
		delete(s.pending, r.RequestId)
		d.mu.Unlock()
		if !ok {
			return nil
		}
		out := taskOutcome{cut: r}
		switch {
		case r.NotHosting:
			out.err = errNotHosting
		case !r.Ok:
			out.err = fmt.Errorf("executor %s: %s", s.status.ID, r.Error)
		case r.Partitions < 0:
			out.err = fmt.Errorf("executor %s: a cut with %d partitions", s.status.ID, r.Partitions)
		}
		ch <- out
		return nil
	case *pb.ExecutorMessage_TaskResult:
		r := k.TaskResult
		d.mu.Lock()
		ch, ok := s.pending[r.TaskId]
		if ok {
			delete(s.pending, r.TaskId)
			s.running--
			if r.Ok {
				s.status.TasksCompleted++
			}
		}
		d.mu.Unlock()
		if !ok {
			// A copy the driver stopped waiting for (the other copy won, or
			// its batch was cancelled): nothing is waiting for it.
			d.log.Debug("result of a task no longer awaited", "executor", s.status.ID, "task", r.TaskId)
			return nil
		}
		ch <- taskOutcome{err: taskError(s.status.ID, r)}
		return nil
	default:
		return errors.New("empty or unknown message")
	}
}

// lose marks an executor lost, once, and tells the listeners.
func (d *Driver) lose(s *session, reason string) {
	d.mu.Lock()
	cur, ok := d.executors[s.status.ID]
	if !ok || cur != s {
		d.mu.Unlock()
		return
	}
	delete(d.executors, s.status.ID)
	// Its running tasks will not report: fail them, so they run elsewhere.
	for id, ch := range s.pending {
		ch <- taskOutcome{err: fmt.Errorf("executor %s: %w: %s", s.status.ID, runtime.ErrExecutorLost, reason)}
		delete(s.pending, id)
	}
	now := time.Now()
	st := s.status
	st.State, st.LostAt, st.LostReason = ExecutorLost, &now, reason
	d.lost = append([]ExecutorStatus{st}, d.lost...)
	if len(d.lost) > d.cfg.KeepLost {
		d.lost = d.lost[:d.cfg.KeepLost]
	}
	d.postAll(d.placeReceiversLocked())
	listeners := append([]func(ExecutorStatus){}, d.onLost...)
	d.mu.Unlock()
	s.cancel(errors.New(reason))
	select {
	case <-d.stop:
		d.log.Info("executor released", "executor", st.ID, "reason", reason)
	default:
		d.log.Warn("executor lost", "executor", st.ID, "reason", reason)
	}
	for _, f := range listeners {
		f(st)
	}
}

// watchHeartbeats is the fallback to connection loss: a session that stays
// open without heartbeats (a hung process, a half-open connection) is lost.
func (d *Driver) watchHeartbeats() {
	tick := time.NewTicker(d.cfg.HeartbeatInterval / 2)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		deadline := time.Now().Add(-d.cfg.HeartbeatTimeout)
		var late []*session
		d.mu.Lock()
		for _, s := range d.executors {
			if s.status.LastHeartbeat.Before(deadline) {
				late = append(late, s)
			}
		}
		d.mu.Unlock()
		for _, s := range late {
			d.lose(s, fmt.Sprintf("no heartbeat for %s", d.cfg.HeartbeatTimeout))
		}
	}
}

// validateHello checks an executor's registration before it is trusted.
func validateHello(h *pb.Hello) error {
	switch {
	case h == nil:
		return errors.New("the first message of a session must be hello")
	case h.ExecutorId == "" || len(h.ExecutorId) > 253:
		return errors.New("hello: executor_id must be 1 to 253 characters")
	case h.Cores < 0 || h.MemoryBytes < 0:
		return errors.New("hello: cores and memory_bytes must not be negative")
	}
	host, port, err := net.SplitHostPort(h.BlockAddress)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("hello: block_address %q is not host:port", h.BlockAddress)
	}
	return nil
}

// taskError is the error a failed task's result stands for. A block its
// executor found missing comes back as a MissingBlockError, so the driver
// reruns the task that wrote it.
func taskError(executor string, r *pb.TaskResult) error {
	if r.Ok {
		return nil
	}
	err := fmt.Errorf("executor %s: %s", executor, r.Error)
	if r.MissingBlock == "" {
		return err
	}
	id, perr := runtime.ParseBlockID(r.MissingBlock)
	if perr != nil || r.MissingAt == "" {
		return fmt.Errorf("%w (and a malformed missing block %q at %q)", err, r.MissingBlock, r.MissingAt)
	}
	return fmt.Errorf("executor %s: %w", executor, &runtime.MissingBlockError{ID: id, Address: r.MissingAt,
		Err: fmt.Errorf("%w: %s", runtime.ErrBlockNotHeld, r.Error)})
}
