package cluster

// Cluster benchmarks recorded in docs/benchmarks.md:
//
//	go test -run '^$' -bench . -benchtime 1x ./runtime/cluster/

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime"
	"github.com/tributary-dev/tributary/runtime/checkpoint/miniotest"
	"github.com/tributary-dev/tributary/runtime/pipeline"
)

// workloads are the three engine workloads as manifests over the
// generator (100-byte records), one batch per second.
var workloads = map[string]string{
	"grep": `
      - name: out
        from: lines
        filter: "record.contains('tributary')"`,
	"wordcount": `
      - name: words
        from: lines
        split: {}
      - name: out
        from: words
        countByValue: {}`,
	"windowed": `
      - name: words
        from: lines
        split: {}
      - name: out
        from: words
        countByValueAndWindow: {window: 30s, slide: 1s}`,
}

func benchJob(streams string, rate int) string {
	return fmt.Sprintf(`apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: bench}
spec:
  batchInterval: 1s
  parallelism: 4
  executors: {replicas: 2}
  pipeline:
    sources:
      - name: lines
        generator: {recordsPerSecond: %d, seed: 3}
    streams:%s
    outputs:
      - from: out
        print: {records: 1}
`, rate, streams)
}

// steadyProcessing is the median processing time of batches 3..n.
func steadyProcessing(batches []runtime.BatchInfo) time.Duration {
	var d []time.Duration
	for _, b := range batches[min(2, len(batches)):] {
		d = append(d, b.ProcessingTime)
	}
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func localBatches(b *testing.B, manifest string, n int) []runtime.BatchInfo {
	job, err := pipeline.Parse([]byte(manifest))
	if err != nil {
		b.Fatal(err)
	}
	ctx, err := job.Build(pipeline.Options{Workers: 2, Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := ctx.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	for ctx.Metrics().CompletedBatches < int64(n) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = ctx.Stop(false)
	return ctx.Metrics().Batches
}

type cluster struct {
	driver    *exec.Cmd
	executors []*exec.Cmd
	http      string
}

func startCluster(t testing.TB, manifest string, executors int) *cluster {
	driverBin, executorBin := buildBinaries(t)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	env := []string{"TRIBUTARY_SECRET=" + testSecret}
	c := &cluster{http: httpAddr}
	c.driver = start(t, driverBin, append(env, "TRIBUTARY_JOB="+manifest, "TRIBUTARY_HEARTBEAT_INTERVAL=200ms"), "--listen", grpcAddr, "--http", httpAddr)
	for i := 0; i < executors; i++ {
		c.executors = append(c.executors, start(t, executorBin, append(env, "TRIBUTARY_DRIVER="+grpcAddr),
			"--id", fmt.Sprintf("exec-%d", i), "--listen", "127.0.0.1:0", "--cores", "2"))
	}
	return c
}

func (c *cluster) waitBatches(t testing.TB, n int64) Status {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := getStatus(c.http)
		if err == nil && s.CompletedBatches >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d batches after 2 minutes", s.CompletedBatches)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkClusterThroughput compares a driver and two executors (three
// processes on this machine) with local mode on the same manifest, at a
// load that keeps both busy, by steady-state processing time per batch.
func BenchmarkClusterThroughput(b *testing.B) {
	const rate = 200_000 // records per 1 s batch
	for _, name := range []string{"grep", "wordcount", "windowed"} {
		b.Run(name, func(b *testing.B) {
			manifest := benchJob(workloads[name], rate)
			for b.Loop() {
				local := steadyProcessing(localBatches(b, manifest, 6))
				c := startCluster(b, manifest, 2)
				s := c.waitBatches(b, 6)
				dist := steadyProcessing(s.Batches)
				_ = c.driver.Process.Signal(syscall.SIGTERM)
				_ = waitProcess(c.driver)
				// Both use this machine's 2 cores: per-core ratios equal the
				// ratio of records per second.
				b.ReportMetric(rate/local.Seconds()/2, "local-records/s/core")
				b.ReportMetric(rate/dist.Seconds()/2, "cluster-records/s/core")
				b.ReportMetric(local.Seconds()/dist.Seconds(), "cluster/local")
			}
		})
	}
}

// BenchmarkRecoveryTime kills one of three executors in a running word
// count at a 1 s batch interval and reports how long the total delay of
// batches stays above normal (1.5x the median before the kill).
func BenchmarkRecoveryTime(b *testing.B) {
	manifest := benchJob(workloads["wordcount"], 50_000)
	for b.Loop() {
		c := startCluster(b, manifest, 3)
		before := c.waitBatches(b, 5)
		var delays []time.Duration
		for _, bi := range before.Batches[2:] {
			delays = append(delays, bi.TotalDelay)
		}
		sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
		normal := delays[len(delays)/2]
		killed := time.Now()
		_ = c.executors[1].Process.Signal(syscall.SIGKILL)
		after := c.waitBatches(b, before.CompletedBatches+8)
		recovered := killed
		for _, bi := range after.Batches {
			if bi.CompletedAt.After(killed) && bi.TotalDelay > normal*3/2 {
				recovered = bi.CompletedAt
			}
		}
		_ = c.driver.Process.Signal(syscall.SIGTERM)
		_ = waitProcess(c.driver)
		b.ReportMetric(recovered.Sub(killed).Seconds(), "recovery-s")
		b.ReportMetric(normal.Seconds()*1000, "normal-delay-ms")
	}
}

// BenchmarkRecoveryWithState measures how long a new driver process takes,
// from its start to its first completed batch, to take over a job whose
// state holds a million keys: it claims an epoch, reads the newest
// checkpoint from MinIO, restores the state (which then serves the
// executors' first tasks) and runs a batch. The job is a mapWithState
// count per key over a directory that held one file of a million distinct
// keys; the old driver is SIGKILLed once a data checkpoint of that state is
// referenced by a metadata checkpoint.
func BenchmarkRecoveryWithState(b *testing.B) {
	const keys = 1_000_000
	driverBin, executorBin := buildBinaries(b)
	minio := miniotest.Start(b)
	minio.MakeBucket(b, "jobs")
	in := b.TempDir()
	var buf bytes.Buffer
	for i := range keys {
		fmt.Fprintf(&buf, "key-%07d\n", i)
	}
	if err := os.WriteFile(filepath.Join(in, "keys.txt"), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		manifest := fmt.Sprintf(`apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: bigstate}
spec:
  batchInterval: 2s
  parallelism: 4
  executors: {replicas: 2}
  checkpoint:
    location: s3://jobs/run-%d
    endpoint: %q
    interval: 4s
    tls: {disabled: true}
  pipeline:
    sources:
      - name: lines
        directory: {path: %s, includeExisting: true}
    streams:
      - name: pairs
        from: lines
        keyBy: {key: "record", value: "1"}
      - name: counts
        from: pairs
        mapWithState: {update: "(state == null ? 0 : state) + 1"}
    outputs:
      - from: counts
        print: {records: 1}
`, i, minio.Addr, in)
		env := []string{"TRIBUTARY_SECRET=" + testSecret, "TRIBUTARY_JOB=" + manifest, "TRIBUTARY_HEARTBEAT_INTERVAL=200ms",
			"AWS_ACCESS_KEY_ID=" + miniotest.User, "AWS_SECRET_ACCESS_KEY=" + miniotest.Password}
		grpcAddr, httpAddr := freeAddr(b), freeAddr(b)
		driver := start(b, driverBin, env, "--listen", grpcAddr, "--http", httpAddr)
		var executors []*exec.Cmd
		for _, id := range []string{"exec-0", "exec-1"} {
			executors = append(executors, start(b, executorBin, append(env, "TRIBUTARY_DRIVER="+grpcAddr), "--id", id, "--listen", "127.0.0.1:0", "--cores", "2"))
		}
		waitStatus(b, httpAddr, 3*time.Minute, refersToData)
		_ = driver.Process.Signal(syscall.SIGKILL)
		_ = waitProcess(driver)

		started := time.Now()
		driver, log := startWithLog(b, driverBin, env, "--listen", grpcAddr, "--http", httpAddr)
		s := waitStatus(b, httpAddr, 3*time.Minute, func(s Status) bool { return s.CompletedBatches >= 1 })
		took := time.Since(started)
		if s.Checkpoints == nil || s.Checkpoints.RecoveredFrom == "" {
			b.Fatalf("the new driver did not recover: %+v", s.Checkpoints)
		}
		b.ReportMetric(took.Seconds(), "s-to-first-batch")
		if os.Getenv("BENCH_LOG") != "" {
			b.Logf("started %s\n%s", started.UTC().Format(time.RFC3339Nano), log())
		}
		_ = driver.Process.Signal(syscall.SIGKILL)
		for _, e := range executors {
			_ = e.Process.Signal(syscall.SIGKILL)
		}
	}
}

// waitStatus polls a driver's status until ok says so.
func waitStatus(b testing.TB, httpAddr string, limit time.Duration, ok func(Status) bool) Status {
	b.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(10 * time.Millisecond) {
		if s, err := getStatus(httpAddr); err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			b.Fatalf("waited %s for the driver's status", limit)
		}
	}
}
