package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime/pipeline"
)

// wordCountStreams are the word count steps the kill tests share, from a
// text source named lines to a keyed stream named counts.
const wordCountStreams = `
      - name: words
        from: lines
        split: {}
      - name: pairs
        from: words
        keyBy: {key: "record", value: "1"}
      - name: counts
        from: pairs
        reduceByKey: {function: sum}`

// recoveryJob is a bounded word count that writes every batch.
func recoveryJob(out string) string {
	return `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: wordcount}
spec:
  batchInterval: 250ms
  parallelism: 4
  executors: {replicas: 2}
  pipeline:
    sources:
      - name: lines
        generator: {recordsPerSecond: 4000, count: 24000, recordSize: 60, seed: 7}
    streams:` + wordCountStreams + `
      - name: windowed
        from: pairs
        reduceByKeyAndWindow: {function: sum, inverse: {function: subtract}, keep: "value != 0", window: {window: 1s}}
      - name: sessions
        from: pairs
        mapWithState:
          update: "timingOut ? state : (state == null ? 0 : state) + value"
          emit: "{'word': key, 'count': state, 'ended': timingOut}"
          timeout: 1s
    outputs:
      - from: counts
        files: {path: ` + filepath.Join(out, "counts") + `}
      - from: windowed
        files: {path: ` + filepath.Join(out, "windowed") + `}
      - from: sessions
        files: {path: ` + filepath.Join(out, "sessions") + `}
`
}

// batchesOf reads an output directory as its batches in time order, each
// as sorted JSON lines. Batch directories are named by absolute batch time,
// which differs between runs, so batches are compared by position.
func batchesOf(t *testing.T, dir string) [][]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out [][]string
	for _, n := range names {
		parts, _ := os.ReadDir(filepath.Join(dir, n))
		var lines []string
		for _, p := range parts {
			data, _ := os.ReadFile(filepath.Join(dir, n, p.Name()))
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if l != "" {
					lines = append(lines, l)
				}
			}
		}
		sort.Strings(lines)
		out = append(out, lines)
	}
	return out
}

// localRun runs the job in one process, as tributary run would.
func localRun(t *testing.T, manifest string) {
	t.Helper()
	job, err := pipeline.Parse([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := job.Build(pipeline.Options{Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctx.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ctx.AwaitTermination(); err != nil {
		t.Fatal(err)
	}
}

// Executors killed with SIGKILL at random moments, and one joining mid-run:
// every batch's output equals a single-process run of the same input.
func TestKilledExecutorsLoseNothing(t *testing.T) {
	driverBin, executorBin := buildBinaries(t)
	localOut, clusterOut := t.TempDir(), t.TempDir()
	localRun(t, recoveryJob(localOut))

	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := []string{"TRIBUTARY_SECRET=" + testSecret}
	driver := start(t, driverBin, append(env, "TRIBUTARY_JOB="+recoveryJob(clusterOut), "TRIBUTARY_HEARTBEAT_INTERVAL=100ms"),
		"--listen", grpcAddr, "--http", httpAddr)
	startExecutorProcess := func(id string) *exec.Cmd {
		return start(t, executorBin, append(env, "TRIBUTARY_DRIVER="+grpcAddr), "--id", id, "--listen", "127.0.0.1:0", "--cores", "2")
	}
	executors := []*exec.Cmd{startExecutorProcess("exec-0"), startExecutorProcess("exec-1"), startExecutorProcess("exec-2")}
	eventually(t, "three executors", func() bool {
		s, err := getStatus(httpAddr)
		return err == nil && countState(s, ExecutorAlive) == 3
	})

	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	for _, victim := range []int{1, 0} {
		time.Sleep(time.Duration(300+r.Intn(900)) * time.Millisecond)
		if err := executors[victim].Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed exec-%d", victim)
	}
	startExecutorProcess("exec-late")
	eventually(t, "the late executor to run tasks", func() bool {
		s, err := getStatus(httpAddr)
		if err != nil {
			return false
		}
		for _, e := range s.Executors {
			if e.ID == "exec-late" && e.TasksCompleted > 0 {
				return true
			}
		}
		return false
	})

	waitForDriver(t, driver)

	for _, output := range []string{"counts", "windowed", "sessions"} {
		want, got := batchesOf(t, filepath.Join(localOut, output)), batchesOf(t, filepath.Join(clusterOut, output))
		if len(want) == 0 || len(got) != len(want) {
			t.Fatalf("%s: %d batches in the cluster run, %d in the local run", output, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s batch %d differs:\ncluster %v\nlocal   %v", output, i, got[i], want[i])
			}
		}
	}
	t.Logf("%d batches equal the local run", len(batchesOf(t, filepath.Join(localOut, "counts"))))
}

// socketFeed serves numbered lines "w<i>" to whoever is connected, like a
// live feed: a line written while no receiver is connected, or to one that
// died, is gone. It records when each line was written.
type socketFeed struct {
	ln      net.Listener
	lines   int
	written []time.Time
	done    chan struct{}
}

func newSocketFeed(t *testing.T, lines int) *socketFeed {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &socketFeed{ln: ln, lines: lines, written: make([]time.Time, lines), done: make(chan struct{})}
	go f.serve()
	return f
}

func (f *socketFeed) port() string { return fmt.Sprint(f.ln.Addr().(*net.TCPAddr).Port) }

func (f *socketFeed) serve() {
	defer close(f.done)
	var conn net.Conn
	for i := 0; i < f.lines; {
		if conn == nil {
			c, err := f.ln.Accept()
			if err != nil {
				return
			}
			conn = c
		}
		f.written[i] = time.Now()
		if _, err := fmt.Fprintf(conn, "w%d\n", i); err != nil {
			conn.Close()
			conn = nil
		}
		i++
		if i%50 == 0 {
			time.Sleep(25 * time.Millisecond) // 2,000 lines a second
		}
	}
	if conn != nil {
		conn.Close() // the end of the bounded input (stopAtEOF)
	}
}

// socketJob counts the words of the feed's lines, writing every batch.
func socketJob(port, out string) string {
	return `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: socketcount}
spec:
  batchInterval: 200ms
  parallelism: 4
  pipeline:
    sources:
      - name: lines
        socket: {host: 127.0.0.1, port: ` + port + `, stopAtEOF: true}
    streams:` + wordCountStreams + `
    outputs:
      - from: counts
        files: {path: ` + out + `}
`
}

// countsOf sums a word count's output over its batches.
func countsOf(t *testing.T, dir string) map[string]int64 {
	totals := map[string]int64{}
	for _, batch := range batchesOf(t, dir) {
		for _, line := range batch {
			var kv struct {
				Key   string
				Value int64
			}
			if err := json.Unmarshal([]byte(line), &kv); err != nil {
				t.Fatal(err)
			}
			totals[kv.Key] += kv.Value
		}
	}
	return totals
}

// receiverOf returns where the driver placed the job's receiver, once it
// has an executor and a backup, neither of them among gone.
func receiverOf(t *testing.T, httpAddr string, gone ...string) ReceiverStatus {
	t.Helper()
	var r ReceiverStatus
	eventually(t, "the receiver placed with a backup", func() bool {
		s, err := getStatus(httpAddr)
		if err != nil || len(s.Receivers) != 1 {
			return false
		}
		r = s.Receivers[0]
		return r.Executor != "" && r.Backup != "" && !slices.Contains(gone, r.Executor) && !slices.Contains(gone, r.Backup)
	})
	return r
}

func waitForDriver(t *testing.T, driver *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- waitProcess(driver) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("driver exited with %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the job did not finish")
	}
}

// startSocketCluster runs the socket word count with a driver and three
// executors, exec-0 to exec-2, as processes.
func startSocketCluster(t *testing.T, feed *socketFeed, out string) (driver *exec.Cmd, executors map[string]*exec.Cmd, httpAddr string) {
	driverBin, executorBin := buildBinaries(t)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := []string{"TRIBUTARY_SECRET=" + testSecret}
	driver = start(t, driverBin, append(env, "TRIBUTARY_JOB="+socketJob(feed.port(), out), "TRIBUTARY_HEARTBEAT_INTERVAL=100ms"),
		"--listen", grpcAddr, "--http", httpAddr)
	executors = map[string]*exec.Cmd{}
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("exec-%d", i)
		executors[id] = start(t, executorBin, append(env, "TRIBUTARY_DRIVER="+grpcAddr), "--id", id, "--listen", "127.0.0.1:0")
	}
	return driver, executors, httpAddr
}

// The socket source: lines arrive while the executors around the receiver
// are killed, its backup first. Batch boundaries depend on arrival, so the
// check is on the totals: every line counted exactly once.
func TestKilledExecutorsLoseNothingFromASocket(t *testing.T) {
	const lines = 6000
	feed := newSocketFeed(t, lines)
	out := t.TempDir()
	driver, executors, httpAddr := startSocketCluster(t, feed, out)
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	placed := receiverOf(t, httpAddr)
	for round := 0; round < 2; round++ {
		time.Sleep(time.Duration(200+r.Intn(600)) * time.Millisecond)
		_ = executors[placed.Backup].Process.Signal(syscall.SIGKILL)
		t.Logf("killed %s, the receiver's backup", placed.Backup)
		if round == 0 {
			placed = receiverOf(t, httpAddr, placed.Backup) // a new backup
		}
	}
	waitForDriver(t, driver)
	totals := countsOf(t, out)
	if len(totals) != lines {
		t.Errorf("%d of %d lines counted", len(totals), lines)
	}
	for w, n := range totals {
		if n != 1 {
			t.Errorf("%s counted %d times", w, n)
		}
	}
}

// Killing the receiver's own executor: its backup takes the receiver over
// with the replicated blocks, and the receiver reconnects. A socket cannot
// send lines again, so lines not yet replicated when the executor died are
// lost, as in Spark; they must be among the last written before the kill,
// and no line may be counted twice.
func TestKilledReceiverExecutorMovesTheReceiver(t *testing.T) {
	const lines = 6000
	feed := newSocketFeed(t, lines)
	out := t.TempDir()
	driver, executors, httpAddr := startSocketCluster(t, feed, out)
	placed := receiverOf(t, httpAddr)
	time.Sleep(time.Duration(500+rand.Intn(800)) * time.Millisecond)
	killed := time.Now()
	_ = executors[placed.Executor].Process.Signal(syscall.SIGKILL)
	t.Logf("killed %s, the receiver's executor", placed.Executor)
	eventually(t, "the receiver moved to its backup", func() bool {
		s, err := getStatus(httpAddr)
		return err == nil && len(s.Receivers) == 1 && s.Receivers[0].Executor == placed.Backup && s.Receivers[0].Moves == 1
	})
	waitForDriver(t, driver)
	<-feed.done
	totals := countsOf(t, out)
	lost := 0
	for i := 0; i < lines; i++ {
		w := fmt.Sprintf("w%d", i)
		switch n := totals[w]; {
		case n > 1:
			t.Errorf("%s counted %d times", w, n)
		case n == 0:
			lost++
			// A block interval, with slack for a loaded machine.
			if feed.written[i].Before(killed.Add(-time.Second)) {
				t.Errorf("%s, written %s before the kill, was lost", w, killed.Sub(feed.written[i]))
			}
		}
	}
	t.Logf("%d of %d lines lost with the receiver's executor", lost, lines)
	if lost == lines {
		t.Fatal("nothing was counted")
	}
}
