package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime"
	"github.com/tributary-dev/tributary/runtime/checkpoint"
	"github.com/tributary-dev/tributary/runtime/checkpoint/miniotest"
	"github.com/tributary-dev/tributary/runtime/pipeline"
)

// statefulJob is a word count with running totals (updateStateByKey) and a
// sliding windowed count, checkpointed every second: outputs and
// checkpoints go where out and checkpoints say (local paths or S3).
func statefulJob(endpoint, out, checkpoints string, records int) string {
	return `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: stateful}
spec:
  batchInterval: 500ms
  parallelism: 4
  executors: {replicas: 2}
  checkpoint:
    location: ` + checkpoints + `
    endpoint: "` + endpoint + `"
    interval: 1s
    tls: {disabled: true}
  pipeline:
    sources:
      - name: lines
        generator: {recordsPerSecond: 400, count: ` + strconv.Itoa(records) + `, recordSize: 60, seed: 11}
    streams:` + wordCountStreams + `
      - name: totals
        from: pairs
        updateStateByKey: {update: "(state == null ? 0 : state) + values.size()"}
      - name: windowed
        from: pairs
        reduceByKeyAndWindow: {function: sum, window: {window: 2s, slide: 1s}}
    outputs:
      - from: totals
        files: {path: ` + out + `/totals}
      - from: windowed
        files: {path: ` + out + `/windowed}
`
}

// committedBatches reads an S3 output as a reader following commit markers
// does: the batches that have a marker, in time order, each as its sorted
// JSON lines.
func committedBatches(t *testing.T, store checkpoint.Store, output string) [][]string {
	t.Helper()
	batches, err := runtime.ReadCommitted(context.Background(), checkpoint.Sub(store, output))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, b := range batches {
		sort.Strings(b.Records)
		out = append(out, b.Records)
	}
	return out
}

// failureFreeRun runs the job in one process on a manual clock: the
// reference outputs, as local files.
func failureFreeRun(t *testing.T, manifest string) {
	t.Helper()
	job, err := pipeline.Parse([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	// A present-day start gives batch directory names of the same width
	// as the real run's, so both sort alike.
	clock := runtime.NewManualClock(time.UnixMilli(1_700_000_000_000))
	ctx, err := job.Build(pipeline.Options{Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctx.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case <-ctx.Done():
			if err := ctx.AwaitTermination(); err != nil {
				t.Fatal(err)
			}
			return
		case <-time.After(time.Millisecond):
		}
		if ctx.Metrics().PendingBatches == 0 {
			clock.Advance(job.BatchInterval())
		}
	}
}

// killedBySignal reports whether a process ended because of a signal, as
// opposed to exiting by itself.
func killedBySignal(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// The driver is SIGKILLed at random moments, more than 20 times, each time
// replaced by a new driver at the same checkpoint location in S3; the two
// executors stay and re-register. Every committed output batch equals the
// failure-free run's.
func TestKilledDriversResumeFromTheirCheckpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of driver kills; run without -short")
	}
	job := newStatefulSetup(t, 24000)
	driverBin, executorBin, minio, localOut := job.driverBin, job.executorBin, job.minio, job.localOut
	env := jobEnv(job.manifest)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	for _, id := range []string{"exec-0", "exec-1"} {
		start(t, executorBin, append(env, "TRIBUTARY_DRIVER="+grpcAddr), "--id", id, "--listen", "127.0.0.1:0", "--cores", "2")
	}

	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	kills := 0
	var committed runtime.Time
	var driver *exec.Cmd
	for {
		driver = start(t, driverBin, env, "--listen", grpcAddr, "--http", httpAddr)
		exited := make(chan error, 1)
		go func() { exited <- waitProcess(driver) }()
		// Let the new driver commit at least one batch, so the run moves
		// on, then kill it at a random moment.
		progressed := false
		deadline := time.Now().Add(60 * time.Second)
		for !progressed {
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("driver %d exited with %v", kills+1, err)
				}
				if kills < 20 {
					t.Fatalf("the job finished after %d driver kills; the test wants at least 20", kills)
				}
				goto finished
			case <-time.After(20 * time.Millisecond):
			}
			if s, err := getStatus(httpAddr); err == nil && s.LastCompletedBatch > committed {
				committed, progressed = s.LastCompletedBatch, true
			}
			if time.Now().After(deadline) {
				t.Fatalf("driver %d made no progress past batch %s", kills+1, committed)
			}
		}
		if kills >= 22 {
			// Enough: let this driver finish the job.
			if err := <-exited; err != nil {
				t.Fatalf("the last driver exited with %v", err)
			}
			break
		}
		time.Sleep(time.Duration(r.Intn(1200)) * time.Millisecond)
		_ = driver.Process.Signal(syscall.SIGKILL)
		if err := <-exited; !killedBySignal(err) {
			t.Fatalf("driver %d exited by itself before the kill: %v", kills+1, err)
		}
		kills++
	}
finished:
	t.Logf("%d drivers killed", kills)

	store := bucket(t, minio, "jobs")
	sameAsFailureFree(t, store, localOut, "after kills")
	epochs, _ := store.List(context.Background(), "checkpoints/epochs/")
	if !slices.ContainsFunc(epochs, func(k string) bool { return strings.HasSuffix(k, "/0000000021") }) {
		t.Fatalf("epochs claimed: %v", epochs)
	}
}

// bucket is a client of one bucket of the test's MinIO.
func bucket(t *testing.T, minio *miniotest.Server, name string) checkpoint.Store {
	t.Helper()
	store, err := checkpoint.NewS3(checkpoint.S3Config{Endpoint: minio.Addr, Bucket: name, Insecure: true,
		Credentials: checkpoint.Credentials{AccessKeyID: miniotest.User, SecretAccessKey: miniotest.Password}})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// sameAsFailureFree compares statefulJob's committed S3 outputs under out/
// with the failure-free run's local ones, batch by batch.
func sameAsFailureFree(t *testing.T, store checkpoint.Store, localOut, what string) {
	t.Helper()
	for _, output := range []string{"totals", "windowed"} {
		want, got := batchesOf(t, filepath.Join(localOut, output)), committedBatches(t, store, "out/"+output)
		if len(want) == 0 || len(got) != len(want) {
			t.Fatalf("%s: %d committed batches %s, %d in the failure-free run", output, len(got), what, len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s batch %d differs:\n%-12s %.300v\nfailure-free %.300v", output, i, what, got[i], want[i])
			}
		}
	}
}

// statefulSetup is what the tests of statefulJob on processes share: the
// binaries, a MinIO with the bucket "jobs", the failure-free run's outputs
// in localOut, and the manifest that runs against MinIO.
type statefulSetup struct {
	driverBin, executorBin string
	minio                  *miniotest.Server
	localOut, manifest     string
}

func newStatefulSetup(t *testing.T, records int) statefulSetup {
	t.Helper()
	s := statefulSetup{minio: miniotest.Start(t), localOut: t.TempDir()}
	s.driverBin, s.executorBin = buildBinaries(t)
	s.minio.MakeBucket(t, "jobs")
	failureFreeRun(t, statefulJob("", s.localOut, filepath.Join(t.TempDir(), "checkpoints"), records))
	s.manifest = statefulJob(s.minio.Addr, "s3://jobs/out", "s3://jobs/checkpoints", records)
	return s
}

// jobEnv is the environment of a job's driver and executors: the manifest,
// the RPC secret, quick heartbeats and MinIO's credentials.
func jobEnv(manifest string) []string {
	return []string{"TRIBUTARY_SECRET=" + testSecret, "TRIBUTARY_JOB=" + manifest, "TRIBUTARY_HEARTBEAT_INTERVAL=100ms",
		"AWS_ACCESS_KEY_ID=" + miniotest.User, "AWS_SECRET_ACCESS_KEY=" + miniotest.Password}
}

// refersToData reports whether the newest metadata checkpoint refers to a
// data checkpoint: a driver killed now resumes from saved state.
func refersToData(s Status) bool {
	return s.Checkpoints != nil && strings.HasSuffix(s.Checkpoints.Metadata, ".json") && !strings.HasSuffix(s.Checkpoints.Metadata, ".none.json")
}

// MinIO is stopped mid-run and restarted: the job stalls, saying so in its
// status, then resumes, and its committed outputs are the failure-free
// run's.
func TestAJobStallsWhileItsStoreIsDownAndThenResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("half a minute of running against MinIO; run without -short")
	}
	job := newStatefulSetup(t, 8000) // 20 s at 400 a second
	p := startJobCluster(t, job.driverBin, job.executorBin, job.manifest)
	p.waitForStatus(t, "batches commit", func(s Status) bool { return s.CompletedBatches >= 4 })

	job.minio.Stop()
	down := p.waitForStatus(t, "the status shows the store's outage", func(s Status) bool {
		return s.Checkpoints != nil && s.Checkpoints.StoreError != ""
	})
	t.Logf("while MinIO is down: %s", down.Checkpoints.StoreError)
	stalled := down.LastCompletedBatch
	time.Sleep(3 * time.Second)
	if s, _ := getStatus(p.httpAddr); s.LastCompletedBatch > stalled+1000 {
		t.Fatalf("batches through %s committed while the store was down (stalled at %s)", s.LastCompletedBatch, stalled)
	}

	job.minio.Restart()
	p.waitForStatus(t, "the job resumes", func(s Status) bool {
		return s.LastCompletedBatch > stalled+1000 && s.Checkpoints.StoreError == ""
	})
	if err := p.waitForExit(t, 90*time.Second); err != nil {
		t.Fatalf("the driver failed: %v", err)
	}
	sameAsFailureFree(t, bucket(t, job.minio, "jobs"), job.localOut, "around the outage")
}

// clusterProcs is a driver process and the two executors that serve it.
type clusterProcs struct {
	driver   *exec.Cmd
	log      func() string
	exited   chan error
	done     chan struct{} // closed when the driver has exited
	httpAddr string
}

// startJobCluster starts a driver for manifest, and two executors for it.
func startJobCluster(t *testing.T, driverBin, executorBin, manifest string) *clusterProcs {
	t.Helper()
	env := jobEnv(manifest)
	grpcAddr := freeAddr(t)
	p := &clusterProcs{httpAddr: freeAddr(t), exited: make(chan error, 1), done: make(chan struct{})}
	p.driver, p.log = startWithLog(t, driverBin, env, "--listen", grpcAddr, "--http", p.httpAddr)
	go func() {
		err := waitProcess(p.driver)
		close(p.done)
		p.exited <- err
	}()
	for _, id := range []string{"exec-0", "exec-1"} {
		start(t, executorBin, append(env, "TRIBUTARY_DRIVER="+grpcAddr), "--id", id, "--listen", "127.0.0.1:0", "--cores", "2")
	}
	return p
}

// waitForStatus polls the driver's status until ok says so, and fails the
// test if the driver exits first.
func (p *clusterProcs) waitForStatus(t *testing.T, what string, ok func(Status) bool) Status {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-p.exited:
			t.Fatalf("the driver exited while waiting until %s: %v", what, err)
		default:
		}
		if s, err := getStatus(p.httpAddr); err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s until %s", what)
		}
	}
}

// waitForExit waits for the driver to end by itself and returns how.
func (p *clusterProcs) waitForExit(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-p.exited:
		return err
	case <-time.After(within):
		t.Fatalf("the driver did not exit within %s", within)
		return nil
	}
}

// A second driver started while the first still runs takes the job over:
// the first commits at most the batch it was committing, then stops with an
// error saying why, and the second finishes the job with the failure-free
// run's outputs.
func TestAZombieDriverCannotCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("half a minute of running against MinIO; run without -short")
	}
	job := newStatefulSetup(t, 8000)
	old := startJobCluster(t, job.driverBin, job.executorBin, job.manifest)
	old.waitForStatus(t, "batches commit", func(s Status) bool { return s.CompletedBatches >= 4 })

	// The old driver's status is watched throughout, up to its exit.
	var oldCommitted atomic.Int64
	go func() {
		for {
			if s, err := getStatus(old.httpAddr); err == nil {
				oldCommitted.Store(int64(s.LastCompletedBatch))
			}
			select {
			case <-old.done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	replacement := startJobCluster(t, job.driverBin, job.executorBin, job.manifest)
	replacement.waitForStatus(t, "the new driver claims epoch 2", func(s Status) bool {
		return s.Checkpoints != nil && s.Checkpoints.Epoch == 2
	})
	claimedAt := oldCommitted.Load()

	err := old.waitForExit(t, 30*time.Second)
	if err == nil || !strings.Contains(old.log(), runtime.ErrFenced.Error()) {
		t.Fatalf("the old driver exited with %v; its log should say %q:\n%s", err, runtime.ErrFenced, lastLines(old.log(), 10))
	}
	if last := oldCommitted.Load(); last > claimedAt+500 {
		t.Fatalf("the old driver committed through %d after the new one claimed the job at %d", last, claimedAt)
	}
	if err := replacement.waitForExit(t, 90*time.Second); err != nil {
		t.Fatalf("the new driver failed: %v", err)
	}
	sameAsFailureFree(t, bucket(t, job.minio, "jobs"), job.localOut, "after the takeover")
}

// A driver restarted with a changed manifest: one that changes what a
// stateful stream keeps is refused with an error naming the stream; one
// that doubles the parallelism (re-partitioning the state by key) and adds
// a stateless stream and output resumes, and its outputs are the
// failure-free run's.
func TestARestartedDriverTakesCompatibleChangesOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("half a minute of running against MinIO; run without -short")
	}
	job := newStatefulSetup(t, 6000)
	driverBin, executorBin, minio, manifest := job.driverBin, job.executorBin, job.minio, job.manifest
	first := startJobCluster(t, driverBin, executorBin, manifest)
	// Without a data checkpoint a resume recomputes the state from the
	// source, under any partitioning: wait for one.
	first.waitForStatus(t, "a metadata checkpoint that refers to a data checkpoint", refersToData)
	_ = first.driver.Process.Signal(syscall.SIGKILL)
	<-first.exited

	retyped := strings.Replace(manifest, `updateStateByKey: {update: "(state == null ? 0 : state) + values.size()"}`,
		`mapWithState: {update: "(state == null ? 0 : state) + 1"}`, 1)
	refused := startJobCluster(t, driverBin, executorBin, retyped)
	if err := refused.waitForExit(t, 30*time.Second); err == nil || !strings.Contains(refused.log(), `"totals"`) {
		t.Fatalf("a resume with another kind of state exited with %v; its error should name the stream totals:\n%s", err, lastLines(refused.log(), 5))
	}
	t.Logf("refused: %s", lastLines(refused.log(), 1))

	// The added stream comes before the stateful ones, so every stream
	// after it, named or not, is a different node of the graph.
	extended := strings.Replace(strings.Replace(strings.Replace(manifest, "parallelism: 4", "parallelism: 8", 1),
		"      - name: totals\n", `      - name: long
        from: words
        filter: "size(record) > 6"
      - name: totals
`, 1), "    outputs:\n", `    outputs:
      - from: long
        print: {records: 1}
`, 1)
	resumed := startJobCluster(t, driverBin, executorBin, extended)
	if err := resumed.waitForExit(t, 90*time.Second); err != nil {
		t.Fatalf("a resume with an added stateless stream failed: %v\n%s", err, lastLines(resumed.log(), 5))
	}
	sameAsFailureFree(t, bucket(t, minio, "jobs"), job.localOut, "after the changed restart")
}

// A socket source with a write-ahead log: lines that the receiver's
// executor received, and logged, but that no batch had read when the
// driver was SIGKILLed, are counted by the next driver, exactly once.
// Without the log they would be lost: the executor drops what it received
// for a driver that is gone.
func TestLoggedLinesSurviveAKilledDriver(t *testing.T) {
	const lines = 1000
	driverBin, executorBin := buildBinaries(t)
	minio := miniotest.Start(t)
	minio.MakeBucket(t, "jobs")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	send, sent := make(chan struct{}), make(chan struct{})
	go func() {
		// The first receiver gets the lines when the test says; the next
		// one, the end of the input.
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		<-send
		for i := range lines {
			fmt.Fprintf(conn, "w%d\n", i)
		}
		close(sent)
		if conn, err = ln.Accept(); err == nil {
			conn.Close()
		}
	}()
	out := t.TempDir()
	manifest := `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: logged}
spec:
  batchInterval: 2s
  parallelism: 4
  executors: {replicas: 2}
  checkpoint:
    location: s3://jobs/checkpoints
    endpoint: "` + minio.Addr + `"
    interval: 4s
    tls: {disabled: true}
  pipeline:
    sources:
      - name: lines
        socket: {host: 127.0.0.1, port: ` + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) + `, stopAtEOF: true, writeAheadLog: true}
    streams:` + wordCountStreams + `
    outputs:
      - from: counts
        files: {path: ` + out + `}
`
	first := startJobCluster(t, driverBin, executorBin, manifest)
	// Right after a batch commits, the next cut is two seconds away: the
	// lines arrive, are logged within a block interval, and the driver dies
	// before any batch reads them.
	s := first.waitForStatus(t, "batches commit", func(s Status) bool { return s.CompletedBatches >= 2 })
	first.waitForStatus(t, "the next batch commits", func(n Status) bool { return n.LastCompletedBatch > s.LastCompletedBatch })
	close(send)
	<-sent
	time.Sleep(700 * time.Millisecond)
	_ = first.driver.Process.Signal(syscall.SIGKILL)
	<-first.exited

	second := startJobCluster(t, driverBin, executorBin, manifest)
	if err := second.waitForExit(t, 60*time.Second); err != nil {
		t.Fatalf("the second driver failed: %v\n%s", err, lastLines(second.log(), 10))
	}
	got := countsOf(t, out)
	var missing, doubled []string
	for i := range lines {
		switch w := fmt.Sprintf("w%d", i); got[w] {
		case 1:
		case 0:
			missing = append(missing, w)
		default:
			doubled = append(doubled, w)
		}
	}
	if len(missing) > 0 || len(doubled) > 0 || len(got) != lines {
		t.Fatalf("of %d lines, %d were lost (%.80v), %d counted twice (%.80v); %d words counted", lines, len(missing), missing, len(doubled), doubled, len(got))
	}
	if !strings.Contains(second.log(), "logged blocks that no batch read go into the next batch") {
		t.Fatalf("the second driver did not recover the logged lines:\n%s", lastLines(second.log(), 10))
	}
}
