package cluster

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tributary-dev/tributary/runtime"
	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

// FuzzExecutorMessage decodes arbitrary bytes as an executor's message and
// runs the driver's checks on it: a malformed message is an error, never a
// panic.
func FuzzExecutorMessage(f *testing.F) {
	for _, m := range []*pb.ExecutorMessage{
		hello("exec-1", "127.0.0.1:7078"),
		{Kind: &pb.ExecutorMessage_Heartbeat{Heartbeat: &pb.Heartbeat{SentUnixMs: 1, RunningTasks: 2}}},
		{Kind: &pb.ExecutorMessage_TaskResult{TaskResult: &pb.TaskResult{TaskId: "t", Ok: true}}},
		{Kind: &pb.ExecutorMessage_ReceiverCut{ReceiverCut: &pb.ReceiverCut{RequestId: "c1", Ok: true, Partitions: 3, BackupAddress: "127.0.0.1:1"}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	d, err := NewDriver(DriverConfig{Auth: Auth{Secret: "x"}, Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m pb.ExecutorMessage
		if err := proto.Unmarshal(data, &m); err != nil {
			return
		}
		_ = validateHello(m.GetHello())
		s := &session{cancel: func(error) {}, status: ExecutorStatus{ID: "fuzz"}, pending: map[string]chan taskOutcome{"c1": make(chan taskOutcome, 1)}}
		_ = d.handle(s, &m)
		if rt := m.GetTaskResult(); rt != nil {
			_, _ = fromRunTask(&pb.RunTask{TaskId: rt.TaskId})
		}
	})
}

// FuzzReplicaHeader decodes arbitrary bytes as the header of a Replicate
// stream and applies what the backup's checks let through: a bad header is
// an error, never a panic or a half-applied change.
func FuzzReplicaHeader(f *testing.F) {
	for _, h := range []*pb.ReplicaHeader{
		{Node: 1, PendingSeqs: []int64{0, 1}, Blocks: 2},
		{Node: 1, Reset_: true},
		{Node: 1, Seal: true, BatchTimeMs: 100, SealedSeqs: []int64{0}, Blocks: 1},
	} {
		b, _ := proto.Marshal(h)
		f.Add(b)
	}
	worker, err := runtime.NewContext(runtime.Config{BatchInterval: 100 * time.Millisecond, Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	h := newHosting(quiet(), func() receiverWorker { return worker }, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		var hdr pb.ReplicaHeader
		if err := proto.Unmarshal(data, &hdr); err != nil {
			return
		}
		if err := validateReplicaHeader(&hdr); err != nil || hdr.Blocks > 64 {
			return
		}
		blocks := make([][]byte, hdr.Blocks)
		_ = h.applyReplica(&hdr, blocks)
	})
}
