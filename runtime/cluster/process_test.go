package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinaries builds cmd/driver and cmd/executor once per test binary.
func buildBinaries(t testing.TB) (driver, executor string) {
	t.Helper()
	dir := t.TempDir()
	for _, cmd := range []string{"driver", "executor"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "github.com/tributary-dev/tributary/cmd/"+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("building %s: %v\n%s", cmd, err, out)
		}
	}
	return filepath.Join(dir, "driver"), filepath.Join(dir, "executor")
}

func freeAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

const processJob = `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: wordcount}
spec:
  batchInterval: 200ms
  executors: {replicas: 2}
  pipeline:
    sources:
      - name: lines
        generator: {recordsPerSecond: 2000}
    streams:
      - name: words
        from: lines
        split: {}
      - name: counts
        from: words
        countByValue: {}
    outputs:
      - from: counts
        print: {records: 1}
`

func start(t testing.TB, bin string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd, _ := startWithLog(t, bin, env, args...)
	return cmd
}

// startWithLog starts a process as start does, and returns a function
// that reads its log so far.
func startWithLog(t testing.TB, bin string, env []string, args ...string) (*exec.Cmd, func() string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	// A driver's default checkpoint directory is relative to its working
	// directory: each process gets its own.
	cmd.Dir = t.TempDir()
	// Keep the process's log, and show it if the test fails.
	var logs bytes.Buffer
	out := &syncWriter{w: &logs}
	cmd.Stdout, cmd.Stderr = io.Discard, out
	read := func() string {
		out.mu.Lock()
		defer out.mu.Unlock()
		return logs.String()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s %v:\n%s", filepath.Base(bin), args, lastLines(read(), 40))
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = waitProcess(cmd) })
	return cmd, read
}

func getStatus(httpAddr string) (Status, error) {
	var s Status
	resp, err := http.Get("http://" + httpAddr + "/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func countState(s Status, state string) int {
	n := 0
	for _, e := range s.Executors {
		if e.State == state {
			n++
		}
	}
	return n
}

func TestDriverAndExecutorProcesses(t *testing.T) {
	driverBin, executorBin := buildBinaries(t)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := []string{"TRIBUTARY_SECRET=" + testSecret}
	driver := start(t, driverBin, append(env, "TRIBUTARY_JOB="+processJob, "TRIBUTARY_HEARTBEAT_INTERVAL=100ms"),
		"--listen", grpcAddr, "--http", httpAddr)
	var executors []*exec.Cmd
	for i := 0; i < 3; i++ {
		executors = append(executors, start(t, executorBin, append(env, "TRIBUTARY_DRIVER="+grpcAddr),
			"--id", fmt.Sprintf("exec-%d", i), "--listen", "127.0.0.1:0"))
	}
	eventually(t, "three executors and a running job", func() bool {
		s, err := getStatus(httpAddr)
		return err == nil && countState(s, ExecutorAlive) == 3 && s.CompletedBatches > 0
	})
	if code, _ := get(t, "http://"+httpAddr+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d", code)
	}
	if s, _ := getStatus(httpAddr); len(s.Sources) != 1 || s.Sources[0].Kind != "generator" || s.Execution != "executors" {
		t.Fatalf("/status sources %+v, execution %q", s.Sources, s.Execution)
	}

	// kill -9 one executor: its connection drops and the driver sees it.
	killed := time.Now()
	if err := executors[1].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the killed executor to be lost", func() bool {
		s, err := getStatus(httpAddr)
		return err == nil && countState(s, ExecutorAlive) == 2 && countState(s, ExecutorLost) == 1
	})
	if took := time.Since(killed); took > 2*time.Second {
		t.Errorf("loss took %s to detect; the connection drop should be seen at once", took)
	}
	if _, metrics := get(t, "http://"+httpAddr+"/metrics"); !strings.Contains(metrics, `tributary_executors{state="alive"} 2`) ||
		!strings.Contains(metrics, "tributary_batches_completed_total") {
		t.Fatalf("/metrics lacks the executor and batch metrics:\n%s", metrics)
	}

	// A graceful stop of the driver shuts the executors down cleanly.
	if err := driver.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitProcess(driver); err != nil {
		t.Fatalf("driver exited with %v", err)
	}
	for _, i := range []int{0, 2} {
		done := make(chan error, 1)
		go func() { done <- waitProcess(executors[i]) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("executor %d exited with %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("executor %d did not exit after the driver stopped", i)
		}
	}
}

func TestDriverRefusesToStartWithoutASecret(t *testing.T) {
	driverBin, _ := buildBinaries(t)
	cmd := exec.Command(driverBin, "--listen", freeAddr(t), "--http", freeAddr(t))
	cmd.Env = append(os.Environ(), "TRIBUTARY_JOB="+processJob, "TRIBUTARY_SECRET=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no shared secret") {
		t.Fatalf("driver without a secret: %v\n%s", err, out)
	}
}

// syncWriter serializes writes from the process's output copier and reads.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waiters holds, for each started process, the one Wait its callers share:
// exec.Cmd.Wait may be called only once, and a test and its cleanup both
// wait.
var waiters sync.Map // *exec.Cmd -> *processWaiter

type processWaiter struct {
	once sync.Once
	done chan struct{}
	err  error
}

// waitProcess waits for a started process to exit and returns how it did;
// any number of callers may wait.
func waitProcess(cmd *exec.Cmd) error {
	v, _ := waiters.LoadOrStore(cmd, &processWaiter{done: make(chan struct{})})
	w := v.(*processWaiter)
	w.once.Do(func() {
		go func() {
			w.err = cmd.Wait()
			close(w.done)
		}()
	})
	<-w.done
	return w.err
}
