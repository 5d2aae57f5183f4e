package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/tributary-dev/tributary/runtime"
	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

// Receiver placement: the driver as the engine's ReceiverScheduler. Each
// receiver runs on one executor (its host) and replicates what it receives
// to a second one (its backup). When the host is lost the backup takes the
// receiver over, with the replicas it holds; when the backup is lost the
// host gets a new one. driver.go owns the sessions these messages travel on.

// ReceiverStatus is where one receiver runs.
type ReceiverStatus struct {
	Node   int    `json:"node"`
	Stream string `json:"stream"`
	// Executor runs the receiver; empty while no executor is alive.
	Executor string `json:"executor"`
	// Backup holds replicas of the received blocks; empty while no second
	// executor is alive.
	Backup string `json:"backup"`
	// Moves counts how often the receiver was moved to another executor.
	Moves int `json:"moves"`
}

type placement struct {
	status   ReceiverStatus
	logEpoch int64
	// version orders the AssignReceiver messages of one node: an executor
	// ignores one older than what it applied.
	version int64
}

// cutRetryDelay is how long a cut waits before asking again when the
// receiver's executor has not started it yet.
const cutRetryDelay = 50 * time.Millisecond

// StartReceiver implements runtime.ReceiverScheduler.
func (d *Driver) StartReceiver(node int, name string, logEpoch int64) {
	d.mu.Lock()
	d.receivers[node] = &placement{status: ReceiverStatus{Node: node, Stream: name}, logEpoch: logEpoch}
	msgs := d.placeReceiversLocked()
	d.mu.Unlock()
	d.postAll(msgs)
}

// StopReceiver implements runtime.ReceiverScheduler.
func (d *Driver) StopReceiver(node int) {
	d.mu.Lock()
	p, ok := d.receivers[node]
	delete(d.receivers, node)
	var msgs []addressed
	if ok {
		if s := d.executors[p.status.Executor]; s != nil {
			msgs = append(msgs, addressed{s, &pb.DriverMessage{Kind: &pb.DriverMessage_StopReceiver{StopReceiver: &pb.StopReceiver{Node: int32(node)}}}})
		}
	}
	d.mu.Unlock()
	d.postAll(msgs)
}

// Receivers returns where every receiver runs.
func (d *Driver) Receivers() []ReceiverStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ReceiverStatus, 0, len(d.receivers))
	for _, p := range d.receivers {
		out = append(out, p.status)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// CutReceiver implements runtime.ReceiverScheduler.
func (d *Driver) CutReceiver(ctx context.Context, node int, t, committed runtime.Time) (runtime.ReceiverCut, error) {
	for {
		d.mu.Lock()
		p, ok := d.receivers[node]
		if !ok {
			d.mu.Unlock()
			return runtime.ReceiverCut{}, fmt.Errorf("the receiver of node %d was not started", node)
		}
		s := d.executors[p.status.Executor]
		if s == nil {
			changed := d.joined
			d.mu.Unlock()
			select {
			case <-changed:
				continue
			case <-d.stop:
				return runtime.ReceiverCut{}, errors.New("driver stopping")
			case <-ctx.Done():
				return runtime.ReceiverCut{}, ctx.Err()
			}
		}
		id := fmt.Sprintf("c%d", d.taskSeq.Add(1))
		ch := make(chan taskOutcome, 1)
		s.pending[id] = ch
		d.mu.Unlock()
		req := &pb.CutReceiver{RequestId: id, Node: int32(node), BatchTimeMs: int64(t), CommittedMs: int64(committed)}
		out, answered := d.await(ctx, s, ch, &pb.DriverMessage{Kind: &pb.DriverMessage_CutReceiver{CutReceiver: req}})
		d.mu.Lock()
		delete(s.pending, id)
		d.mu.Unlock()
		if !answered {
			return runtime.ReceiverCut{}, ctx.Err()
		}
		switch err := out.err; {
		case err == nil:
			return runtime.ReceiverCut{Partitions: int(out.cut.Partitions), Primary: s.status.BlockAddress,
				Backup: out.cut.BackupAddress, Exhausted: out.cut.Exhausted, WALKeys: out.cut.WalKeys}, nil
		case errors.Is(err, runtime.ErrExecutorLost):
			// The backup takes over with its replicas; ask it.
			continue
		case errors.Is(err, errNotHosting):
			// The assignment is still on its way to the executor.
		default:
			return runtime.ReceiverCut{}, err
		}
		select {
		case <-time.After(cutRetryDelay):
		case <-ctx.Done():
			return runtime.ReceiverCut{}, ctx.Err()
		}
	}
}

// errNotHosting is an executor's answer to a cut of a receiver it does not
// run: the assignment has not reached it yet.
var errNotHosting = errors.New("the executor does not run this receiver yet")

// await sends a request on an executor's session and waits for its
// answer on ch, registered in s.pending, which the caller then clears.
// answered is false when ctx ended first.
func (d *Driver) await(ctx context.Context, s *session, ch chan taskOutcome, msg *pb.DriverMessage) (out taskOutcome, answered bool) {
	select {
	case s.send <- msg:
	case out := <-ch: // lost before the request could be sent
		return out, true
	case <-ctx.Done():
		return taskOutcome{}, false
	}
	select {
	case out := <-ch:
		return out, true
	case <-ctx.Done():
		return taskOutcome{}, false
	}
}

type addressed struct {
	s   *session
	msg *pb.DriverMessage
}

// postAll queues messages on their sessions without holding the driver's
// lock; a message to a session that ends meanwhile is dropped.
func (d *Driver) postAll(msgs []addressed) {
	for _, m := range msgs {
		go func() {
			select {
			case m.s.send <- m.msg:
			case <-m.s.done:
			}
		}()
	}
}

// placeReceiversLocked gives every receiver an alive host and, when another
// executor is alive, a backup, and returns the assignments to send. A lost
// host's backup becomes the host: it holds the replicas.
func (d *Driver) placeReceiversLocked() []addressed {
	nodes := make([]int, 0, len(d.receivers))
	for n := range d.receivers {
		nodes = append(nodes, n)
	}
	sort.Ints(nodes)
	hosting, backing := map[string]int{}, map[string]int{}
	for _, p := range d.receivers {
		if _, ok := d.executors[p.status.Executor]; ok {
			hosting[p.status.Executor]++
		}
		if _, ok := d.executors[p.status.Backup]; ok {
			backing[p.status.Backup]++
		}
	}
	var msgs []addressed
	for _, n := range nodes {
		p := d.receivers[n]
		st := &p.status
		before := *st
		_, hostAlive := d.executors[st.Executor]
		_, backupAlive := d.executors[st.Backup]
		switch {
		case hostAlive:
		case backupAlive:
			st.Executor, st.Backup = st.Backup, ""
			backing[st.Executor]--
			hosting[st.Executor]++
			backupAlive = false
		default:
			st.Executor = d.leastLoadedLocked(hosting, "")
			if st.Executor != "" {
				hosting[st.Executor]++
			}
		}
		if !backupAlive {
			st.Backup = ""
		}
		if st.Executor == "" {
			continue
		}
		if st.Backup == "" {
			st.Backup = d.leastLoadedLocked(backing, st.Executor)
			if st.Backup != "" {
				backing[st.Backup]++
			}
		}
		if before.Executor != "" && st.Executor != before.Executor {
			st.Moves++
			d.log.Warn("receiver moved", "stream", st.Stream, "from", before.Executor, "to", st.Executor)
		}
		if *st == before && p.version > 0 {
			continue
		}
		p.version++
		backupAddr := ""
		if b := d.executors[st.Backup]; b != nil {
			backupAddr = b.status.BlockAddress
		}
		msgs = append(msgs, addressed{d.executors[st.Executor], &pb.DriverMessage{Kind: &pb.DriverMessage_AssignReceiver{
			AssignReceiver: &pb.AssignReceiver{Node: int32(n), BackupAddress: backupAddr, Version: p.version, LogEpoch: p.logEpoch}}}})
	}
	return msgs
}

// leastLoadedLocked picks the alive executor, other than not, with the
// lowest count, by ID among equals; "" when there is none.
func (d *Driver) leastLoadedLocked(count map[string]int, not string) string {
	best := ""
	for id := range d.executors {
		if id == not {
			continue
		}
		if best == "" || count[id] < count[best] || (count[id] == count[best] && id < best) {
			best = id
		}
	}
	return best
}
