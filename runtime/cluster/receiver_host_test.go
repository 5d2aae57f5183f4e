package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
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

// ackQueue is a message queue with consumer acknowledgements, shared by
// every copy of the receiver: it delivers groups of records and sends a
// group again until it is acknowledged. It hands out records up to limit.
type ackQueue struct {
	mu      sync.Mutex
	changed *sync.Cond
	total   int
	limit   int
	next    int // first record of the next group to deliver
	acked   int // records acknowledged, in order
	// atAck checks, when a group is acknowledged, that it is replicated.
	atAck func(records []string)
}

const ackGroup = 10

func newAckQueue(total int) *ackQueue {
	q := &ackQueue{total: total}
	q.changed = sync.NewCond(&q.mu)
	return q
}

func (q *ackQueue) setLimit(n int) {
	q.mu.Lock()
	q.limit = n
	q.changed.Broadcast()
	q.mu.Unlock()
}

func (q *ackQueue) waitAcked(t *testing.T, n int) {
	eventually(t, fmt.Sprintf("%d records acknowledged", n), func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.acked >= n
	})
}

// queueSource is one receiver's consumer of the queue.
type queueSource struct{ q *ackQueue }

func (s queueSource) Fetch(ctx context.Context) ([]string, func() error, error) {
	q := s.q
	stop := context.AfterFunc(ctx, func() { q.mu.Lock(); q.changed.Broadcast(); q.mu.Unlock() })
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	// A new consumer starts over from the first unacknowledged record.
	for q.next >= q.limit && q.next < q.total {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		q.changed.Wait()
	}
	if q.next >= q.total {
		return nil, nil, io.EOF
	}
	from := q.next
	q.next += ackGroup
	records := make([]string, 0, ackGroup)
	for i := from; i < from+ackGroup; i++ {
		records = append(records, fmt.Sprintf("r%03d", i))
	}
	return records, func() error {
		if q.atAck != nil {
			q.atAck(records)
		}
		q.mu.Lock()
		q.acked = from + ackGroup
		q.mu.Unlock()
		return nil
	}, nil
}

func (s queueSource) Close() error {
	q := s.q
	q.mu.Lock()
	q.next = q.acked // unacknowledged records are delivered again
	q.mu.Unlock()
	return nil
}

// testHost is one executor's hosting, served over gRPC like an executor's.
type testHost struct {
	h      *hosting
	worker *runtime.Context
	addr   string
}

func startTestHost(t *testing.T, newWorker func() *runtime.Context) *testHost {
	t.Helper()
	auth := &Auth{Secret: testSecret}
	f := newFetcher(auth)
	t.Cleanup(f.close)
	th := &testHost{worker: newWorker()}
	th.h = newHosting(quiet(), func() receiverWorker { return th.worker }, f.replicate)
	srv := grpc.NewServer(serverOptions(auth)...)
	pb.RegisterExecutorServer(srv, &executorService{blockServer: &blockServer{source: th.worker.EncodedBlock}, hosting: th.h})
	lis := listen(t)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	t.Cleanup(th.h.reset)
	th.addr = lis.Addr().String()
	return th
}

func (th *testHost) cut(t *testing.T, batch runtime.Time) *pb.ReceiverCut {
	t.Helper()
	c := th.h.cutReceiver(context.Background(), &pb.CutReceiver{Node: 1, BatchTimeMs: int64(batch)})
	if !c.Ok {
		t.Fatalf("cut of batch %s: not hosting %v, error %q", batch, c.NotHosting, c.Error)
	}
	return c
}

// records reads a batch's received input from a host's worker.
func (th *testHost) records(t *testing.T, batch runtime.Time, parts int) []string {
	t.Helper()
	var out []string
	for p := 0; p < parts; p++ {
		data, err := th.worker.EncodedBlock(runtime.BlockID{Stage: runtime.StageKey{Node: 1, Time: batch}, Task: p})
		if err != nil {
			t.Fatalf("batch %s partition %d: %v", batch, p, err)
		}
		records, err := runtime.DecodeRecords[string](data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, records...)
	}
	return out
}

// pendingAt returns the records of the pending replicas a backup holds.
func (th *testHost) pendingAt(t *testing.T) []string {
	th.h.mu.Lock()
	defer th.h.mu.Unlock()
	var out []string
	if r := th.h.replicas[1]; r != nil {
		for _, b := range r.pending {
			records, err := runtime.DecodeRecords[string](b.data)
			if err != nil {
				t.Error(err)
			}
			out = append(out, records...)
		}
	}
	return out
}

// A reliable receiver on one executor, replicating to another: every group
// is at the backup before it is acknowledged, and when the receiver's
// executor is lost the backup takes over. Every record ends up in a batch
// exactly once: the batch cut before the loss is answered again from the
// replica, the acknowledged blocks not yet in a batch are adopted, and the
// unacknowledged rest comes again from the queue.
func TestReliableReceiverReplicatesBeforeAcknowledging(t *testing.T) {
	q := newAckQueue(150)
	newSource := runtime.Func(t.Name()+".receiver", func() runtime.Receiver[string] {
		return runtime.NewReliableReceiver[string](queueSource{q})
	})
	newWorker := func() *runtime.Context {
		c, err := runtime.NewContext(runtime.Config{BatchInterval: 100 * time.Millisecond, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReceiverStream(c, newSource)
		return c
	}
	a, b := startTestHost(t, newWorker), startTestHost(t, newWorker)
	var unreplicated []string
	q.atAck = func(records []string) {
		held := b.pendingAt(t)
		for _, r := range records {
			if !slices.Contains(held, r) {
				unreplicated = append(unreplicated, r)
			}
		}
	}

	q.setLimit(50)
	a.h.assign(context.Background(), &pb.AssignReceiver{Node: 1, BackupAddress: b.addr, Version: 1})
	q.waitAcked(t, 50)
	first := a.cut(t, 100)
	if first.BackupAddress != b.addr || first.Partitions == 0 {
		t.Fatalf("first cut: %d partitions, backup %q", first.Partitions, first.BackupAddress)
	}
	if got := a.records(t, 100, int(first.Partitions)); len(got) != 50 {
		t.Fatalf("first batch holds %d records, want 50", len(got))
	}
	if got := b.records(t, 100, int(first.Partitions)); len(got) != 50 {
		t.Fatalf("the backup's copy of the first batch holds %d records, want 50", len(got))
	}

	q.setLimit(100)
	q.waitAcked(t, 100)
	a.h.reset() // the receiver's executor is lost, with what only it held

	q.mu.Lock()
	q.atAck = nil // the backup runs the receiver now, with no backup of its own
	q.mu.Unlock()
	q.setLimit(150)
	b.h.assign(context.Background(), &pb.AssignReceiver{Node: 1, Version: 2})
	q.waitAcked(t, 150)
	eventually(t, "the last records stored", func() bool {
		b.h.mu.Lock()
		in := b.h.hosted[1]
		b.h.mu.Unlock()
		in.mu.Lock()
		defer in.mu.Unlock()
		n := 0
		for _, p := range in.pending {
			records, _ := runtime.DecodeRecords[string](p.data)
			n += len(records)
		}
		return n == 100
	})
	again := b.cut(t, 100)
	if again.Partitions != first.Partitions {
		t.Fatalf("the batch cut before the loss has %d partitions at the backup, %d at the lost executor", again.Partitions, first.Partitions)
	}
	second := b.cut(t, 200)
	if !second.Exhausted {
		t.Error("the queue ended, but the batch holding its last records is not marked exhausted")
	}
	got := append(b.records(t, 100, int(again.Partitions)), b.records(t, 200, int(second.Partitions))...)
	sort.Strings(got)
	var want []string
	for i := 0; i < 150; i++ {
		want = append(want, fmt.Sprintf("r%03d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("batches hold %v,\nwant every record once: %v", got, want)
	}
	if len(unreplicated) > 0 {
		t.Fatalf("acknowledged before the backup held them: %v", unreplicated)
	}
}

// Bad Replicate streams are refused whole: nothing of them is stored.
func TestBadReplicaStreamsAreRefused(t *testing.T) {
	newWorker := func() *runtime.Context {
		c, err := runtime.NewContext(runtime.Config{BatchInterval: 100 * time.Millisecond, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	th := startTestHost(t, newWorker)
	pending := func(seqs ...int64) *pb.ReplicaHeader {
		return &pb.ReplicaHeader{Node: 1, PendingSeqs: seqs, Blocks: int32(len(seqs))}
	}
	block := func(i int32) *pb.ReplicaChunk { return &pb.ReplicaChunk{Block: i, Data: []byte("x")} }
	cases := []struct {
		name   string
		secret string
		chunks []*pb.ReplicaChunk
		code   codes.Code
	}{
		{"without the secret", "", []*pb.ReplicaChunk{{Header: pending(0)}, block(0)}, codes.Unauthenticated},
		{"with a wrong secret", "wrong", []*pb.ReplicaChunk{{Header: pending(0)}, block(0)}, codes.Unauthenticated},
		{"no header", testSecret, []*pb.ReplicaChunk{block(0)}, codes.InvalidArgument},
		{"node zero", testSecret, []*pb.ReplicaChunk{{Header: &pb.ReplicaHeader{Blocks: 0}}}, codes.InvalidArgument},
		{"too many blocks", testSecret, []*pb.ReplicaChunk{{Header: &pb.ReplicaHeader{Node: 1, Seal: true, BatchTimeMs: 1, Blocks: maxReplicaBlocks + 1}}}, codes.InvalidArgument},
		{"sequence numbers and blocks disagree", testSecret, []*pb.ReplicaChunk{{Header: &pb.ReplicaHeader{Node: 1, PendingSeqs: []int64{1, 2}, Blocks: 1}}, block(0)}, codes.InvalidArgument},
		{"a block out of range", testSecret, []*pb.ReplicaChunk{{Header: pending(0)}, block(1)}, codes.InvalidArgument},
		{"blocks out of order", testSecret, []*pb.ReplicaChunk{{Header: pending(0, 1)}, block(1), block(0)}, codes.InvalidArgument},
		{"a missing block", testSecret, []*pb.ReplicaChunk{{Header: pending(0, 1)}, block(0)}, codes.InvalidArgument},
		{"a second header", testSecret, []*pb.ReplicaChunk{{Header: pending(0)}, {Header: pending(0)}}, codes.InvalidArgument},
		{"a seal of a block never replicated", testSecret, []*pb.ReplicaChunk{{Header: &pb.ReplicaHeader{Node: 1, Seal: true, BatchTimeMs: 100, SealedSeqs: []int64{7}}}}, codes.FailedPrecondition},
		{"an oversized chunk", testSecret, []*pb.ReplicaChunk{{Header: pending(0)}, {Data: make([]byte, MaxMessageBytes+1)}}, codes.ResourceExhausted},
	}
	for _, tc := range cases {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if tc.secret != "" {
			opts = dialOptions(&Auth{Secret: tc.secret})
		}
		conn, err := grpc.NewClient(th.addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := pb.NewExecutorClient(conn).Replicate(context.Background())
		for _, c := range tc.chunks {
			if err == nil {
				err = stream.Send(c)
			}
		}
		if err == nil || errors.Is(err, io.EOF) {
			_, err = stream.CloseAndRecv()
		}
		conn.Close()
		if status.Code(err) != tc.code {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
		}
		if held := th.pendingAt(t); len(held) > 0 {
			t.Fatalf("%s: a refused stream stored %v", tc.name, held)
		}
	}
}
