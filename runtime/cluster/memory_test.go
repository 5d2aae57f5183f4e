package cluster

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// An executor over its memory bound refuses tasks; the driver places them
// on one with room, and the job finishes.
func TestExecutorOverItsMemoryBoundRefusesTasks(t *testing.T) {
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	job := `apiVersion: tributary.dev/v1alpha1
kind: StreamingJob
metadata: {name: bounded}
spec:
  batchInterval: 200ms
  checkpoint: {location: ` + filepath.Join(t.TempDir(), "checkpoints") + `}
  pipeline:
    sources:
      - name: lines
        generator: {recordsPerSecond: 2000, count: 2000}
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
	done := make(chan error, 1)
	go func() {
		done <- RunDriver(context.Background(), DriverOptions{JobYAML: job, GRPCAddress: grpcAddr, HTTPAddress: httpAddr,
			Auth: Auth{Secret: testSecret}, HeartbeatInterval: 50 * time.Millisecond, Stdout: io.Discard, Logger: quiet()})
	}()
	startExecutor(t, "starved", grpcAddr, func(c *ExecutorConfig) { c.MemoryBytes = 1 })
	startExecutor(t, "roomy", grpcAddr, func(c *ExecutorConfig) { c.MemoryBytes = 64 << 30 })

	var last Status
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the job failed: %v", err)
			}
			tasks := map[string]int64{}
			for _, e := range last.Executors {
				tasks[e.ID] = e.TasksCompleted
			}
			if tasks["starved"] != 0 || tasks["roomy"] == 0 {
				t.Fatalf("tasks completed per executor: %v; the starved one must refuse them all", tasks)
			}
			return
		case <-time.After(20 * time.Millisecond):
			if s, err := getStatus(httpAddr); err == nil && len(s.Executors) > 0 {
				last = s
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the job did not finish")
		}
	}
}
