package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tributary-dev/tributary/runtime"
	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

const testSecret = "s3cret-for-tests"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// startDriver serves a driver on 127.0.0.1 and returns it with its address.
func startDriver(t *testing.T, cfg DriverConfig) (*Driver, string) {
	t.Helper()
	if cfg.Auth.Secret == "" && !cfg.Auth.TLS.enabled() {
		cfg.Auth.Secret = testSecret
	}
	if cfg.JobYAML == "" {
		cfg.JobYAML = processJob
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 50 * time.Millisecond
	}
	cfg.Logger = quiet()
	d, err := NewDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis := listen(t)
	go func() { _ = d.Serve(lis) }()
	t.Cleanup(func() { d.Stop("test over") })
	return d, lis.Addr().String()
}

// startExecutor runs an executor until the test ends; the returned channel
// yields Run's result.
func startExecutor(t *testing.T, id, driver string, mutate func(*ExecutorConfig)) (*Executor, context.CancelFunc, <-chan error) {
	t.Helper()
	cfg := ExecutorConfig{ID: id, DriverAddress: driver, Auth: Auth{Secret: testSecret}, Cores: 2, MemoryBytes: 1 << 20, Logger: quiet()}
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := NewExecutor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, listen(t)) }()
	t.Cleanup(cancel)
	return e, cancel, done
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func executor(d *Driver, id string) (ExecutorStatus, bool) {
	for _, e := range d.Executors() {
		if e.ID == id {
			return e, true
		}
	}
	return ExecutorStatus{}, false
}

func TestExecutorRegistersAndHeartbeats(t *testing.T) {
	d, addr := startDriver(t, DriverConfig{})
	startExecutor(t, "exec-1", addr, nil)
	eventually(t, "registration", func() bool { return d.AliveExecutors() == 1 })
	first, _ := executor(d, "exec-1")
	if first.State != ExecutorAlive || first.Cores != 2 || !strings.HasPrefix(first.BlockAddress, "127.0.0.1:") {
		t.Fatalf("status %+v", first)
	}
	eventually(t, "a heartbeat", func() bool {
		e, _ := executor(d, "exec-1")
		return e.LastHeartbeat.After(first.LastHeartbeat)
	})
}

func TestConnectionLossIsDetectedAtOnce(t *testing.T) {
	d, addr := startDriver(t, DriverConfig{HeartbeatTimeout: time.Hour})
	var mu sync.Mutex
	var lost []ExecutorStatus
	d.OnExecutorLost(func(e ExecutorStatus) { mu.Lock(); lost = append(lost, e); mu.Unlock() })
	_, cancel, _ := startExecutor(t, "exec-1", addr, nil)
	eventually(t, "registration", func() bool { return d.AliveExecutors() == 1 })
	cancel()
	eventually(t, "loss", func() bool { mu.Lock(); defer mu.Unlock(); return len(lost) == 1 })
	if e, _ := executor(d, "exec-1"); e.State != ExecutorLost || !strings.Contains(e.LostReason, "connection lost") {
		t.Fatalf("status %+v", e)
	}
}

// rawSession opens a Session with the given secret and sends msgs.
func rawSession(t *testing.T, addr, secret string, msgs ...*pb.ExecutorMessage) (pb.Driver_SessionClient, error) {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if secret != "" {
		opts = dialOptions(&Auth{Secret: secret})
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := pb.NewDriverClient(conn).Session(context.Background())
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			// The server ended the stream; its status comes with Recv.
			if errors.Is(err, io.EOF) {
				_, err = stream.Recv()
			}
			return stream, err
		}
	}
	return stream, nil
}

func hello(id, addr string) *pb.ExecutorMessage {
	return &pb.ExecutorMessage{Kind: &pb.ExecutorMessage_Hello{Hello: &pb.Hello{ExecutorId: id, BlockAddress: addr}}}
}

func TestSilentExecutorIsLostAfterHeartbeatTimeout(t *testing.T) {
	d, addr := startDriver(t, DriverConfig{HeartbeatTimeout: 300 * time.Millisecond})
	stream, err := rawSession(t, addr, testSecret, hello("silent", "127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.GetWelcome() == nil {
		t.Fatalf("want a welcome, got %v %v", m, err)
	}
	eventually(t, "registration", func() bool { return d.AliveExecutors() == 1 })
	eventually(t, "the heartbeat timeout", func() bool {
		e, _ := executor(d, "silent")
		return e.State == ExecutorLost && strings.Contains(e.LostReason, "no heartbeat")
	})
	if _, err := stream.Recv(); status.Code(err) != codes.Aborted {
		t.Fatalf("the silent executor's session should be aborted, got %v", err)
	}
}

func TestCallsWithoutTheSecretAreRefused(t *testing.T) {
	d, addr := startDriver(t, DriverConfig{})
	for _, secret := range []string{"", "wrong"} {
		stream, err := rawSession(t, addr, secret, hello("intruder", "127.0.0.1:1"))
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("secret %q: Session got %v, want Unauthenticated", secret, err)
		}
	}
	if d.AliveExecutors() != 0 {
		t.Fatal("an unauthenticated client registered")
	}

	// An executor's blocks are protected the same way.
	e, _, _ := startExecutor(t, "exec-1", addr, nil)
	eventually(t, "registration", func() bool { return d.AliveExecutors() == 1 })
	// The executor serves its job's blocks once it has adopted the job;
	// replace that source only after.
	eventually(t, "the job to be adopted", func() bool { e.mu.Lock(); defer e.mu.Unlock(); return e.worker != nil })
	st, _ := executor(d, "exec-1")
	big := bytes.Repeat([]byte("x"), 3*blockChunkBytes+5)
	e.blocks.setSource(func(id runtime.BlockID) ([]byte, error) {
		if id.String() != "1/1000/0/0/0" {
			return nil, &runtime.MissingBlockError{ID: id}
		}
		return big, nil
	})
	fetch := func(opts ...grpc.DialOption) ([]byte, error) {
		conn, err := grpc.NewClient(st.BlockAddress, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		stream, err := pb.NewExecutorClient(conn).FetchBlock(context.Background(), &pb.FetchBlockRequest{BlockId: "1/1000/0/0/0"})
		if err != nil {
			return nil, err
		}
		var out []byte
		for {
			c, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			out = append(out, c.Data...)
			if c.Last {
				return out, nil
			}
		}
	}
	if _, err := fetch(grpc.WithTransportCredentials(insecure.NewCredentials())); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("FetchBlock without the secret: %v", err)
	}
	got, err := fetch(dialOptions(&Auth{Secret: testSecret})...)
	if err != nil || len(got) != 3*blockChunkBytes+5 {
		t.Fatalf("FetchBlock with the secret: %d bytes, %v", len(got), err)
	}
}

func TestMalformedAndOversizedMessagesAreRejected(t *testing.T) {
	d, addr := startDriver(t, DriverConfig{})
	cases := map[string]struct {
		msg  *pb.ExecutorMessage
		code codes.Code
	}{
		"heartbeat before hello": {&pb.ExecutorMessage{Kind: &pb.ExecutorMessage_Heartbeat{Heartbeat: &pb.Heartbeat{}}}, codes.InvalidArgument},
		"empty message":          {&pb.ExecutorMessage{}, codes.InvalidArgument},
		"bad block address":      {hello("x", "not-an-address"), codes.InvalidArgument},
		"empty executor id":      {hello("", "127.0.0.1:1"), codes.InvalidArgument},
		"oversized":              {hello(strings.Repeat("x", MaxMessageBytes+1), "127.0.0.1:1"), codes.ResourceExhausted},
	}
	for name, tc := range cases {
		stream, err := rawSession(t, addr, testSecret, tc.msg)
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != tc.code {
			t.Errorf("%s: got %v, want %s", name, err, tc.code)
		}
	}
	// A result for a task the driver is not waiting for (a cancelled copy)
	// is ignored: the session stays up.
	_, _ = rawSession(t, addr, testSecret, hello("late", "127.0.0.1:1"),
		&pb.ExecutorMessage{Kind: &pb.ExecutorMessage_TaskResult{TaskResult: &pb.TaskResult{TaskId: "t-404"}}})
	eventually(t, "the executor with a stale result to stay registered", func() bool { _, ok := executor(d, "late"); return ok })
	time.Sleep(100 * time.Millisecond)
	if e, _ := executor(d, "late"); e.State != ExecutorAlive {
		t.Errorf("a stale task result ended the session: %+v", e)
	}
	// The driver is still serving.
	startExecutor(t, "good", addr, nil)
	eventually(t, "a good executor to register", func() bool { e, ok := executor(d, "good"); return ok && e.State == ExecutorAlive })
}

func TestDriverStopShutsExecutorsDown(t *testing.T) {
	d, addr := startDriver(t, DriverConfig{})
	_, _, done := startExecutor(t, "exec-1", addr, nil)
	eventually(t, "registration", func() bool { return d.AliveExecutors() == 1 })
	d.Stop("test done")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("executor ended with %v, want a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor did not shut down")
	}
}

func TestExecutorExitsAfterDriverLossTimeout(t *testing.T) {
	d, err := NewDriver(DriverConfig{Auth: Auth{Secret: testSecret}, HeartbeatInterval: 50 * time.Millisecond, Logger: quiet(), JobYAML: processJob})
	if err != nil {
		t.Fatal(err)
	}
	lis := listen(t)
	go func() { _ = d.Serve(lis) }()
	_, _, done := startExecutor(t, "exec-1", lis.Addr().String(), func(c *ExecutorConfig) { c.DriverLossTimeout = 500 * time.Millisecond })
	eventually(t, "registration", func() bool { return d.AliveExecutors() == 1 })
	d.srv.Stop() // the driver vanishes without a word, as a killed process does
	select {
	case err := <-done:
		if !errors.Is(err, ErrDriverLost) {
			t.Fatalf("executor ended with %v, want ErrDriverLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("executor kept waiting for a lost driver")
	}
}

func TestWithoutASecretNothingStarts(t *testing.T) {
	if _, err := NewDriver(DriverConfig{}); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("driver: %v", err)
	}
	if _, err := NewExecutor(ExecutorConfig{ID: "e", DriverAddress: "127.0.0.1:1"}); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("executor: %v", err)
	}
}

// An executor with the wrong secret stops at once with the refusal, rather
// than retrying until its driver-loss timeout.
func TestExecutorWithTheWrongSecretStops(t *testing.T) {
	_, addr := startDriver(t, DriverConfig{})
	_, _, done := startExecutor(t, "intruder", addr, func(c *ExecutorConfig) {
		c.Auth = Auth{Secret: "wrong"}
		c.DriverLossTimeout = time.Hour
	})
	select {
	case err := <-done:
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("executor ended with %v, want Unauthenticated", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the executor kept retrying with a wrong secret")
	}
}
