package cluster

import (
	"testing"

	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

// Placement as executors come and go: each step changes the alive
// executors and says where the receivers must be and what is sent.
func TestReceiverPlacement(t *testing.T) {
	d := &Driver{executors: map[string]*session{}, receivers: map[int]*placement{}, log: quiet()}
	join := func(id string) {
		d.executors[id] = &session{status: ExecutorStatus{ID: id, BlockAddress: id + ":1"}}
	}
	type want struct{ host, backup string }
	steps := []struct {
		name   string
		change func()
		want   map[int]want
		// sent maps a receiving executor to the backup addresses it is told, by node.
		sent map[string]map[int]string
	}{
		{"no executor yet", func() { d.receivers[1] = &placement{status: ReceiverStatus{Node: 1}} },
			map[int]want{1: {"", ""}}, nil},
		{"the first executor hosts it without a backup", func() { join("e1") },
			map[int]want{1: {"e1", ""}}, map[string]map[int]string{"e1": {1: ""}}},
		{"the second becomes the backup", func() { join("e2") },
			map[int]want{1: {"e1", "e2"}}, map[string]map[int]string{"e1": {1: "e2:1"}}},
		{"a second receiver goes to the executor hosting none", func() { d.receivers[2] = &placement{status: ReceiverStatus{Node: 2}} },
			map[int]want{1: {"e1", "e2"}, 2: {"e2", "e1"}}, map[string]map[int]string{"e2": {2: "e1:1"}}},
		{"a third executor changes nothing", func() { join("e3") },
			map[int]want{1: {"e1", "e2"}, 2: {"e2", "e1"}}, nil},
		{"the host is lost: its backup takes over and gets a backup", func() { delete(d.executors, "e1") },
			map[int]want{1: {"e2", "e3"}, 2: {"e2", "e3"}}, map[string]map[int]string{"e2": {1: "e3:1", 2: "e3:1"}}},
		{"host and backup are lost together: a fresh executor starts it", func() {
			delete(d.executors, "e2")
			delete(d.executors, "e3")
			join("e4")
		}, map[int]want{1: {"e4", ""}, 2: {"e4", ""}}, map[string]map[int]string{"e4": {1: "", 2: ""}}},
	}
	for _, step := range steps {
		step.change()
		msgs := d.placeReceiversLocked()
		for node, w := range step.want {
			st := d.receivers[node].status
			if st.Executor != w.host || st.Backup != w.backup {
				t.Errorf("%s: receiver %d on %q backed up on %q, want %q and %q", step.name, node, st.Executor, st.Backup, w.host, w.backup)
			}
		}
		got := map[string]map[int]string{}
		for _, m := range msgs {
			a := m.msg.Kind.(*pb.DriverMessage_AssignReceiver).AssignReceiver
			if got[m.s.status.ID] == nil {
				got[m.s.status.ID] = map[int]string{}
			}
			got[m.s.status.ID][int(a.Node)] = a.BackupAddress
		}
		if len(got) != len(step.sent) {
			t.Errorf("%s: sent %v, want %v", step.name, got, step.sent)
			continue
		}
		for id, nodes := range step.sent {
			for node, backup := range nodes {
				if b, ok := got[id][node]; !ok || b != backup {
					t.Errorf("%s: sent %v, want %v", step.name, got, step.sent)
				}
			}
		}
	}
	if moves := d.receivers[1].status.Moves; moves != 2 {
		t.Errorf("receiver 1 moved %d times, want 2", moves)
	}
}
