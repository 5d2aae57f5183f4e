package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// inProcessCluster is a driver context whose tasks run on worker contexts
// in the same process; blocks cross between them only encoded, as on the
// wire.
type inProcessCluster struct {
	mu      sync.Mutex
	workers map[string]*Context
	next    atomic.Int64
	ran     atomic.Int64
	fetched atomic.Int64
	// ops counts the tasks run by operator.
	ops map[string]int
}

func (ic *inProcessCluster) fetch(driver *Context) func(context.Context, string, BlockID) ([]byte, error) {
	return func(_ context.Context, addr string, id BlockID) ([]byte, error) {
		ic.fetched.Add(1)
		ic.mu.Lock()
		w, ok := ic.workers[addr]
		ic.mu.Unlock()
		if addr == "driver" {
			return driver.EncodedBlock(id)
		}
		if !ok {
			return nil, fmt.Errorf("no process at %s", addr)
		}
		return w.EncodedBlock(id)
	}
}

func (ic *inProcessCluster) RunTask(ctx context.Context, spec TaskSpec) (string, error) {
	ic.mu.Lock()
	var names []string
	for name := range ic.workers {
		names = append(names, name)
	}
	sort.Strings(names)
	addr := names[int(ic.next.Add(1))%len(names)]
	w := ic.workers[addr]
	if ic.ops == nil {
		ic.ops = map[string]int{}
	}
	if k := spec.Stage.Node; k >= 1 && k <= len(w.nodes) {
		ic.ops[w.nodes[k-1].info().spec.Op]++
	}
	ic.mu.Unlock()
	ic.ran.Add(1)
	return addr, w.RunTask(ctx, spec)
}

// kill removes a worker and its blocks, as a killed executor process.
func (ic *inProcessCluster) kill(name string, driver *Context) {
	ic.mu.Lock()
	delete(ic.workers, name)
	ic.mu.Unlock()
	driver.LoseBlocksAt(name)
}

// outputsOf runs the described graph to the end and returns every output
// file's content by path relative to out.
func outputsOf(t *testing.T, h *harness, out string, batches int) map[string]string {
	t.Helper()
	runToEnd(t, h, batches)
	got := map[string]string{}
	for _, sub := range []string{"windowed", "state", "trending"} {
		for b := 1; b <= batches; b++ {
			for name, content := range readBatchDir(t, filepath.Join(out, sub, fmt.Sprint(b*1000))) {
				got[sub+"/"+fmt.Sprint(b)+"/"+name] = content
			}
		}
	}
	return got
}

func TestTasksRunOnWorkersGiveTheLocalResult(t *testing.T) { testOnWorkers(t, "") }

// A worker lost mid-run takes its blocks with it; what later batches need
// of them is recomputed from lineage on the survivor, and the outputs are
// still those of a local run.
func TestLostWorkerBlocksAreRecomputed(t *testing.T) { testOnWorkers(t, "kill") }

// A worker that no longer holds blocks the driver recorded there, though it
// is alive, answers that it does not hold them: the driver reruns their
// tasks instead of retrying the readers in vain.
func TestBlocksAWorkerNoLongerHoldsAreRecomputed(t *testing.T) { testOnWorkers(t, "forget") }

// testOnWorkers runs the described graph on two in-process workers, and
// after two batches does to worker w2 what disrupt says: "kill" or
// "forget" (drop its blocks behind the driver's back).
func testOnWorkers(t *testing.T, disrupt string) {
	in := t.TempDir()
	var files []string
	for i, content := range []string{"a b a c\n", "b c d\n", "a\n", "c c b e\n", "a d a\n"} {
		name := fmt.Sprint(i)
		writeAtomically(t, in, name, content)
		files = append(files, filepath.Join(in, name))
	}

	localOut := t.TempDir()
	local := newHarness(t, Config{Workers: 2, Parallelism: 3})
	buildDescribedGraph(local.c, files, localOut)
	want := outputsOf(t, local, localOut, len(files))

	ic := &inProcessCluster{workers: map[string]*Context{}}
	clusterOut := t.TempDir()
	var driver *Context
	driverH := newHarness(t, Config{Workers: 2, Parallelism: 3, TaskRunner: ic, BlockAddress: "driver",
		FetchBlock: func(ctx context.Context, addr string, id BlockID) ([]byte, error) {
			return ic.fetch(driver)(ctx, addr, id)
		}})
	driver = driverH.c
	buildDescribedGraph(driver, files, clusterOut)
	for _, name := range []string{"w1", "w2"} {
		w, err := NewContext(Config{BatchInterval: testInterval, Parallelism: 3, Logger: quietLogger(),
			FetchBlock: func(ctx context.Context, addr string, id BlockID) ([]byte, error) {
				return ic.fetch(driver)(ctx, addr, id)
			}})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Rebuild(driver.Describe()); err != nil {
			t.Fatal(err)
		}
		ic.workers[name] = w
	}
	var got map[string]string
	if disrupt != "" {
		driverH.start()
		driverH.step(2)
		if disrupt == "kill" {
			ic.kill("w2", driver)
		} else {
			w := ic.workers["w2"]
			w.blocks.mu.Lock()
			clear(w.blocks.blocks)
			clear(w.blocks.raw)
			w.blocks.mu.Unlock()
		}
		driverH.step(len(files) - 2)
		if err := driver.AwaitTermination(); err != nil {
			t.Fatal(err)
		}
		got = map[string]string{}
		for _, sub := range []string{"windowed", "state", "trending"} {
			for b := 1; b <= len(files); b++ {
				for name, content := range readBatchDir(t, filepath.Join(clusterOut, sub, fmt.Sprint(b*1000))) {
					got[sub+"/"+fmt.Sprint(b)+"/"+name] = content
				}
			}
		}
	} else {
		got = outputsOf(t, driverH, clusterOut, len(files))
	}

	if ic.ran.Load() == 0 || ic.fetched.Load() == 0 {
		t.Fatalf("ran %d tasks on workers and fetched %d blocks: the cluster path was not taken", ic.ran.Load(), ic.fetched.Load())
	}
	for _, op := range []string{"mapWithState", "stateSnapshots"} {
		if ic.ops[op] == 0 {
			t.Errorf("no %s task ran on a worker: %v", op, ic.ops)
		}
	}
	if !reflect.DeepEqual(got, want) {
		var diff []string
		for k := range want {
			if got[k] != want[k] {
				diff = append(diff, k)
			}
		}
		t.Fatalf("outputs differ from the local run in %d files: %s", len(diff), strings.Join(diff, ", "))
	}
	t.Logf("%d tasks ran on workers, %d blocks crossed between contexts", ic.ran.Load(), ic.fetched.Load())
	// Workers keep no more of the driver's notes than the driver remembers.
	remembered := len(driver.inputBatches())
	for name, w := range ic.workers {
		w.work.mu.Lock()
		inputs := 0
		for _, times := range w.work.inputs {
			inputs += len(times)
		}
		w.work.mu.Unlock()
		if inputs > remembered+1 {
			t.Errorf("worker %s holds %d input batch counts; the driver remembers %d", name, inputs, remembered)
		}
	}
}

func TestWorkerRejectsUnknownTasks(t *testing.T) {
	h := newHarness(t, Config{})
	buildDescribedGraph(h.c, []string{"f"}, t.TempDir())
	w, _ := NewContext(Config{BatchInterval: testInterval, Logger: quietLogger()})
	if err := w.Rebuild(h.c.Describe()); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []TaskSpec{
		{Stage: StageKey{Node: 999, Time: 1000}},
		{Stage: StageKey{Node: 2, Time: 1000, Ordinal: 7}, Inputs: []InputBatch{{Node: 1, Time: 1000, Partitions: 1}}},
		{Stage: StageKey{Node: 1, Time: 1000}, Inputs: []InputBatch{{Node: 1, Time: 1000, Partitions: 1}}},
	} {
		if err := w.RunTask(context.Background(), spec); err == nil {
			t.Errorf("task %+v was accepted", spec.Stage)
		}
	}
}

// A long-running worker forgets the driver's notes about old batches.
func TestWorkersForgetOldBatches(t *testing.T) {
	in := t.TempDir()
	var files []string
	for i := 0; i < 20; i++ {
		name := fmt.Sprint(i)
		writeAtomically(t, in, name, "a b\n")
		files = append(files, filepath.Join(in, name))
	}
	ic := &inProcessCluster{workers: map[string]*Context{}}
	var driver *Context
	fetch := func(ctx context.Context, addr string, id BlockID) ([]byte, error) {
		return ic.fetch(driver)(ctx, addr, id)
	}
	h := newHarness(t, Config{Parallelism: 2, TaskRunner: ic, BlockAddress: "driver", FetchBlock: fetch})
	driver = h.c
	ReduceByKey(Map(FlatMap(QueueFilesStream(h.c, files...), splitWords), pairOne), sumInts, 2).Print()
	for _, name := range []string{"w1", "w2"} {
		w, err := NewContext(Config{BatchInterval: testInterval, Parallelism: 2, Logger: quietLogger(), FetchBlock: fetch})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Rebuild(driver.Describe()); err != nil {
			t.Fatal(err)
		}
		ic.workers[name] = w
	}
	runToEnd(t, h, len(files))
	for name, w := range ic.workers {
		w.work.mu.Lock()
		inputs := 0
		for _, times := range w.work.inputs {
			inputs += len(times)
		}
		w.work.mu.Unlock()
		if inputs > 3 {
			t.Errorf("worker %s holds input counts of %d batches after 20; a one-batch lineage needs 1", name, inputs)
		}
		if blocks := w.blocks.len(); blocks > 20 {
			t.Errorf("worker %s holds %d blocks after 20 batches", name, blocks)
		}
	}
}

// failingRunner fails every task while broken.
type failingRunner struct {
	broken atomic.Bool
	w      *Context
}

func (r *failingRunner) RunTask(ctx context.Context, spec TaskSpec) (string, error) {
	if r.broken.Load() {
		return "w", fmt.Errorf("no executor can run %s now", spec.Stage)
	}
	return "w", r.w.RunTask(ctx, spec)
}

// A failed rerun of lost tasks leaves them marked lost: once executors are
// back, the next ensure reruns them and the stage is whole again.
func TestFailedRerunOfLostTasksCanBeRetried(t *testing.T) {
	r := &failingRunner{}
	var driver *Context
	fetch := func(_ context.Context, addr string, id BlockID) ([]byte, error) {
		if addr == "w" {
			return r.w.EncodedBlock(id)
		}
		return driver.EncodedBlock(id)
	}
	h := newHarness(t, Config{Parallelism: 2, TaskRunner: r, BlockAddress: "driver", FetchBlock: fetch})
	driver = h.c
	files := []string{filepath.Join(t.TempDir(), "f")}
	writeAtomically(t, filepath.Dir(files[0]), "f", "a b a\n")
	ReduceByKey(Map(FlatMap(QueueFilesStream(h.c, files...), splitWords), pairOne), sumInts, 2).Print()
	w, err := NewContext(Config{BatchInterval: testInterval, Parallelism: 2, Logger: quietLogger(), FetchBlock: fetch})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Rebuild(h.c.Describe()); err != nil {
		t.Fatal(err)
	}
	r.w = w
	runToEnd(t, h, 1)

	// Find a finished remote stage, lose its output, and fail its rerun.
	var st *stage
	for _, n := range h.c.nodes {
		n.info().stageMu.Lock()
		for _, log := range n.info().stageLog {
			for _, s := range log {
				if !s.driverOnly && st == nil {
					st = s
				}
			}
		}
		n.info().stageMu.Unlock()
	}
	if st == nil {
		t.Fatal("no remote stage ran")
	}
	// (The driver may hold copies of what it read; mark the loss directly.)
	st.markLost(0)
	r.broken.Store(true)
	if err := st.ensure(context.Background(), h.c.sched); err == nil {
		t.Fatal("rerunning lost tasks with no executor succeeded")
	}
	r.broken.Store(false)
	if err := st.ensure(context.Background(), h.c.sched); err != nil {
		t.Fatalf("the stage stayed failed after executors came back: %v", err)
	}
}
