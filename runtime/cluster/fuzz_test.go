package cluster

import (
	"testing"

	"google.golang.org/protobuf/proto"

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
		s := &session{cancel: func(error) {}, status: ExecutorStatus{ID: "fuzz"}, pending: map[string]chan taskOutcome{}}
		_ = d.handle(s, &m)
		if rt := m.GetTaskResult(); rt != nil {
			_, _ = fromRunTask(&pb.RunTask{TaskId: rt.TaskId})
		}
	})
}
