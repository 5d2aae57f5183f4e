package runtime_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime"
)

// wordCountFromGenerator is the latency workload: word count over the
// generator source, which builds its records while the batch runs.
func wordCountFromGenerator(c *runtime.Context, opts runtime.GeneratorOptions) {
	words := runtime.Map(runtime.FlatMap(runtime.GeneratorStream(c, opts), splitWords), wordOne)
	runtime.ReduceByKey(words, runtime.Sum[int64](), 0).ForeachPartition(drain)
}

// maxGeneratorThroughput measures the records/s that word count sustains
// over the generator on 2 workers, by cutting 2M records into one batch.
func maxGeneratorThroughput(b *testing.B) float64 {
	const n = 2_000_000
	clock := runtime.NewManualClock(time.UnixMilli(0))
	c, err := runtime.NewContext(runtime.Config{BatchInterval: time.Second, Workers: 2, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	wordCountFromGenerator(c, runtime.GeneratorOptions{RecordsPerSecond: n, Count: n, Seed: 1})
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	clock.Advance(time.Second)
	if err := c.AwaitTermination(); err != nil {
		b.Fatal(err)
	}
	return n / time.Since(start).Seconds()
}

// BenchmarkMinStableBatchInterval runs word count on the real clock at half
// of the maximum load for several batch intervals and reports the worst
// total delay relative to the interval. An interval is stable when every
// batch's total delay stays below twice the interval.
//
//	go test -run '^$' -bench MinStableBatchInterval -benchtime 1x ./runtime/
func BenchmarkMinStableBatchInterval(b *testing.B) {
	maxRate := maxGeneratorThroughput(b)
	rate := int64(maxRate / 2)
	b.Logf("maximum load %.0f records/s on 2 workers; running at %d records/s", maxRate, rate)
	const run = 4 * time.Second
	for _, interval := range []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		b.Run(fmt.Sprintf("interval=%s", interval), func(b *testing.B) {
			var worst time.Duration
			for b.Loop() {
				c, err := runtime.NewContext(runtime.Config{BatchInterval: interval, Workers: 2,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				wordCountFromGenerator(c, runtime.GeneratorOptions{RecordsPerSecond: rate, Count: rate * int64(run/time.Second), Seed: 1})
				if err := c.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				if err := c.AwaitTermination(); err != nil {
					b.Fatal(err)
				}
				batches := c.Metrics().Batches
				// The first batch starts cold; judge the steady state.
				for _, bi := range batches[min(2, len(batches)):] {
					worst = max(worst, bi.TotalDelay)
				}
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-total-delay-ms")
			b.ReportMetric(float64(worst)/float64(interval), "worst-delay/interval")
			b.ReportMetric(float64(rate), "records/s")
		})
	}
}
