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
    outputs:
      - from: counts
        files: {path: ` + filepath.Join(out, "counts") + `}
      - from: windowed
        files: {path: ` + filepath.Join(out, "windowed") + `}
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

	done := make(chan error, 1)
	go func() { done <- driver.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("driver exited with %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the bounded job did not finish")
	}

	for _, output := range []string{"counts", "windowed"} {
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

// The socket source: lines arrive while executors are killed. Batch
// boundaries depend on arrival, so the check is on the totals: every line
// counted exactly once.
func TestKilledExecutorsLoseNothingFromASocket(t *testing.T) {
	driverBin, executorBin := buildBinaries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const lines = 3000
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		for i := 0; i < lines; i++ {
			fmt.Fprintf(conn, "to be or not to be w%d\n", i%10)
			if i%100 == 99 {
				time.Sleep(60 * time.Millisecond) // about 2 s of input
			}
		}
	}()
	out := t.TempDir()
	manifest := `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: socketcount}
spec:
  batchInterval: 200ms
  parallelism: 4
  pipeline:
    sources:
      - name: lines
        socket: {host: 127.0.0.1, port: ` + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) + `, stopAtEOF: true}
    streams:` + wordCountStreams + `
    outputs:
      - from: counts
        files: {path: ` + out + `}
`
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := []string{"TRIBUTARY_SECRET=" + testSecret}
	driver := start(t, driverBin, append(env, "TRIBUTARY_JOB="+manifest, "TRIBUTARY_HEARTBEAT_INTERVAL=100ms"), "--listen", grpcAddr, "--http", httpAddr)
	var executors []*exec.Cmd
	for i := 0; i < 3; i++ {
		executors = append(executors, start(t, executorBin, append(env, "TRIBUTARY_DRIVER="+grpcAddr),
			"--id", fmt.Sprintf("exec-%d", i), "--listen", "127.0.0.1:0"))
	}
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	for _, victim := range []int{2, 0} {
		time.Sleep(time.Duration(200+r.Intn(600)) * time.Millisecond)
		_ = executors[victim].Process.Signal(syscall.SIGKILL)
	}
	done := make(chan error, 1)
	go func() { done <- driver.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("driver exited with %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the job did not finish")
	}
	totals := map[string]int64{}
	for _, batch := range batchesOf(t, out) {
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
	want := map[string]int64{"to": 2 * lines, "be": 2 * lines, "or": lines, "not": lines}
	for i := 0; i < 10; i++ {
		want[fmt.Sprintf("w%d", i)] = lines / 10
	}
	if !reflect.DeepEqual(totals, want) {
		t.Fatalf("totals %v, want %v", totals, want)
	}
}
