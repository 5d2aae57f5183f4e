package cluster

// Cluster benchmarks recorded in docs/benchmarks.md:
//
//	go test -run '^$' -bench . -benchtime 1x ./runtime/cluster/

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime"
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
				_ = c.driver.Wait()
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
		_ = c.driver.Wait()
		b.ReportMetric(recovered.Sub(killed).Seconds(), "recovery-s")
		b.ReportMetric(normal.Seconds()*1000, "normal-delay-ms")
	}
}
