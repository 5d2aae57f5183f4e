package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/tributary-dev/tributary/runtime"
	pb "github.com/tributary-dev/tributary/runtime/cluster/clusterpb"
)

// Task dispatch: the driver as the engine's TaskRunner. It chooses an
// executor for each task, sends it over that executor's session and waits
// for its result; driver.go owns the sessions themselves.

// RunTask implements runtime.TaskRunner: it sends the task to the alive
// executor with the fewest running tasks and waits for its result. With no
// executor alive it waits for one to register.
func (d *Driver) RunTask(ctx context.Context, spec runtime.TaskSpec) (string, error) {
	id := fmt.Sprintf("t%d", d.taskSeq.Add(1))
	msg := &pb.DriverMessage{Kind: &pb.DriverMessage_RunTask{RunTask: toRunTask(id, spec)}}
	key := fmt.Sprintf("%s/%d", spec.Stage, spec.Partition)
	for {
		d.mu.Lock()
		avoid := ""
		switch {
		case spec.Speculative:
			avoid = d.runningOn[key]
		case spec.Avoid != "":
			for id, s := range d.executors {
				if s.status.BlockAddress == spec.Avoid {
					avoid = id
				}
			}
		}
		s := d.pickLocked(avoid, spec.Preferred)
		if s != nil && !spec.Speculative {
			d.runningOn[key] = s.status.ID
		}
		if s == nil {
			joined := d.joined
			d.mu.Unlock()
			select {
			case <-joined:
				continue
			case <-d.stop:
				return "", errors.New("driver stopping")
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		ch := make(chan taskOutcome, 1)
		s.pending[id] = ch
		s.running++
		addr := s.status.BlockAddress
		d.mu.Unlock()
		out, answered := d.await(ctx, s, ch, msg)
		d.forgetTask(s, id, key)
		if !answered {
			return "", ctx.Err()
		}
		return addr, out.err
	}
}

// localitySlack is how many more running tasks an executor holding a
// task's inputs may have than the least loaded one and still be chosen:
// reading locally beats fetching, up to a point.
const localitySlack = 2

// pickLocked chooses an executor for a task: one holding its inputs
// (preferred) unless it is much busier than the least loaded, else the
// least loaded, rotating among equals; never avoid, nor a draining one,
// when another is alive.
func (d *Driver) pickLocked(avoid string, preferred []string) *session {
	ids := make([]string, 0, len(d.executors))
	for id, s := range d.executors {
		if id != avoid && !s.status.Draining {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		for id := range d.executors {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	d.next++
	var best *session
	for i := range ids {
		s := d.executors[ids[(i+d.next)%len(ids)]]
		if best == nil || s.running < best.running {
			best = s
		}
	}
	var local *session
	for _, id := range ids {
		s := d.executors[id]
		if slices.Contains(preferred, s.status.BlockAddress) && (local == nil || s.running < local.running) {
			local = s
		}
	}
	if local != nil && local.running <= best.running+localitySlack {
		return local
	}
	return best
}

// forgetTask stops waiting for a task: it finished, was cancelled, or its
// executor was lost.
func (d *Driver) forgetTask(s *session, id, key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := s.pending[id]; ok {
		delete(s.pending, id)
		s.running--
	}
	if d.runningOn[key] == s.status.ID {
		delete(d.runningOn, key)
	}
}

func toRunTask(id string, spec runtime.TaskSpec) *pb.RunTask {
	rt := &pb.RunTask{TaskId: id, Stage: stageKeyPB(spec.Stage), Partition: int32(spec.Partition),
		ZeroTimeMs: int64(spec.ZeroTime), CommittedMs: int64(spec.Committed)}
	for _, in := range spec.Inputs {
		rt.Inputs = append(rt.Inputs, &pb.InputBatch{Node: int32(in.Node), BatchTimeMs: int64(in.Time), Partitions: int32(in.Partitions)})
	}
	for _, dep := range spec.Deps {
		rt.Deps = append(rt.Deps, &pb.BlockLocation{Stage: stageKeyPB(dep.Stage), Task: int32(dep.Task), Address: dep.Address})
	}
	return rt
}

func stageKeyPB(k runtime.StageKey) *pb.StageKey {
	return &pb.StageKey{Node: int32(k.Node), BatchTimeMs: int64(k.Time), Ordinal: int32(k.Ordinal)}
}

// fromRunTask checks and converts a task from the wire.
func fromRunTask(rt *pb.RunTask) (runtime.TaskSpec, error) {
	if rt.Stage == nil {
		return runtime.TaskSpec{}, errors.New("task without a stage")
	}
	spec := runtime.TaskSpec{Stage: stageKey(rt.Stage), Partition: int(rt.Partition),
		ZeroTime: runtime.Time(rt.ZeroTimeMs), Committed: runtime.Time(rt.CommittedMs)}
	for _, in := range rt.Inputs {
		if in.Partitions < 0 {
			return runtime.TaskSpec{}, fmt.Errorf("input batch with %d partitions", in.Partitions)
		}
		spec.Inputs = append(spec.Inputs, runtime.InputBatch{Node: int(in.Node), Time: runtime.Time(in.BatchTimeMs), Partitions: int(in.Partitions)})
	}
	for _, dep := range rt.Deps {
		if dep.Stage == nil {
			return runtime.TaskSpec{}, errors.New("dependency without a stage")
		}
		spec.Deps = append(spec.Deps, runtime.BlockLocation{Stage: stageKey(dep.Stage), Task: int(dep.Task), Address: dep.Address})
	}
	return spec, nil
}

func stageKey(k *pb.StageKey) runtime.StageKey {
	return runtime.StageKey{Node: int(k.Node), Time: runtime.Time(k.BatchTimeMs), Ordinal: int(k.Ordinal)}
}
