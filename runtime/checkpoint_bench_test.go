package runtime_test

// The checkpoint overhead benchmark recorded in docs/benchmarks.md:
//
//	go test -run '^$' -bench CheckpointOverhead -benchtime 3x ./runtime/

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime"
	"github.com/tributary-dev/tributary/runtime/checkpoint"
	"github.com/tributary-dev/tributary/runtime/checkpoint/miniotest"
)

const (
	ckptBenchBatches  = 30
	ckptBenchPerBatch = 100_000
	ckptBenchKeys     = 100_000
)

var (
	benchKey = runtime.Func("bench.key", func(r string) runtime.Pair[string, int64] {
		h := fnv.New32a()
		h.Write([]byte(r))
		return runtime.KV(strconv.Itoa(int(h.Sum32()%ckptBenchKeys)), int64(1))
	})
	benchSum   = runtime.Func("bench.sum", func(a, b int64) int64 { return a + b })
	benchTotal = runtime.Func("bench.total", func(values []int64, state runtime.Optional[int64]) (int64, bool) {
		total := state.OrElse(0)
		for _, v := range values {
			total += v
		}
		return total, true
	})
)

// runStateful runs a stateful job over generated records, one 1 s batch at
// a time as fast as the engine computes them (a manual clock advanced
// whenever no batch is pending): running totals over 100,000 keys
// (updateStateByKey) and a 10 s windowed sum sliding every second. With
// cfg it checkpoints as a driver does: metadata after every batch, data
// every cfg.Interval, uploaded in the background while batches go on. It
// returns how long the batches took, up to the last one's commit: a
// streaming job does not end, so the final checkpoint of a stopping one is
// left out.
func runStateful(b *testing.B, cfg *runtime.CheckpointConfig) (time.Duration, *runtime.Context) {
	zero := time.UnixMilli(1_700_000_000_000)
	clock := runtime.NewManualClock(zero)
	c, err := runtime.NewContext(runtime.Config{BatchInterval: time.Second, Workers: 2, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Checkpoint: cfg})
	if err != nil {
		b.Fatal(err)
	}
	lines := runtime.GeneratorStream(c, runtime.GeneratorOptions{RecordsPerSecond: ckptBenchPerBatch, RecordSize: 100, Seed: 3})
	pairs := runtime.Map(lines, benchKey)
	runtime.UpdateStateByKey(pairs, benchTotal, 0).ForeachPartition(drain)
	runtime.ReduceByKeyAndWindow(pairs, benchSum, 10*time.Second, time.Second, 0).ForeachPartition(drain)
	start := time.Now()
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	last := runtime.TimeOf(zero.Add(ckptBenchBatches * time.Second))
	for c.Metrics().LastCompleted < last {
		select {
		case <-c.Done():
			b.Fatalf("the job stopped: %v", c.AwaitTermination())
		case <-time.After(time.Millisecond):
		}
		if m := c.Metrics(); m.PendingBatches == 0 && runtime.TimeOf(clock.Now()) < last {
			clock.Advance(time.Second)
		}
	}
	took := time.Since(start)
	_ = c.Stop(false)
	return took, c
}

// BenchmarkCheckpointOverhead runs the same stateful job without
// checkpoints and with checkpoints in MinIO at a 10 s data interval, back
// to back in each iteration, and reports both throughputs and the
// overhead.
func BenchmarkCheckpointOverhead(b *testing.B) {
	minio := miniotest.Start(b)
	minio.MakeBucket(b, "bench")
	var off, on time.Duration
	for i := 0; b.Loop(); i++ {
		took, _ := runStateful(b, nil)
		off += took

		store, err := checkpoint.NewS3(checkpoint.S3Config{Endpoint: minio.Addr, Bucket: "bench", Prefix: fmt.Sprintf("run-%d", i),
			Insecure: true, Credentials: checkpoint.Credentials{AccessKeyID: miniotest.User, SecretAccessKey: miniotest.Password}})
		if err != nil {
			b.Fatal(err)
		}
		took, c := runStateful(b, &runtime.CheckpointConfig{Store: store, Interval: 10 * time.Second})
		on += took
		if st, _ := c.Checkpoints(); st.DataTime == 0 || st.StoreError != "" {
			b.Fatalf("no data checkpoint was written during the run: %+v", st)
		}
	}
	records := float64(b.N) * ckptBenchBatches * ckptBenchPerBatch
	b.ReportMetric(records/off.Seconds(), "records/s-off")
	b.ReportMetric(records/on.Seconds(), "records/s-on")
	b.ReportMetric(100*(on.Seconds()/off.Seconds()-1), "overhead-%")
}
