package runtime_test

// Throughput benchmarks recorded in docs/benchmarks.md. Each engine
// benchmark runs a whole bounded job (a fresh context over the same queued
// batches) per iteration and reports records per second per worker; each
// Hand benchmark is the single-goroutine loop doing the same work on the
// same input: the ceiling.
//
//	go test -run '^$' -bench . -benchtime 5x ./runtime/

import (
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime"
)

const (
	benchBatches   = 40
	benchPerBatch  = 25_000
	benchRecordLen = 100
	benchPattern   = "tributary"
)

var (
	benchInputOnce sync.Once
	benchInput     [][]string
)

// input is benchBatches batches of 100-byte generated records.
func input() [][]string {
	benchInputOnce.Do(func() {
		buf := make([]byte, 0, benchRecordLen)
		for b := 0; b < benchBatches; b++ {
			batch := make([]string, benchPerBatch)
			for i := range batch {
				batch[i] = runtime.GeneratedRecord(buf[:0], 42, int64(b*benchPerBatch+i), benchRecordLen)
			}
			benchInput = append(benchInput, batch)
		}
	})
	return benchInput
}

var (
	grepMatch  = runtime.Func("bench.grep", func(s string) bool { return strings.Contains(s, benchPattern) })
	splitWords = runtime.Func("bench.split", strings.Fields)
	wordOne    = runtime.Func("bench.one", func(w string) runtime.Pair[string, int64] { return runtime.KV(w, int64(1)) })
	drain      = runtime.Func("bench.drain", func(_ runtime.Time, _ int, records iter.Seq[runtime.Pair[string, int64]]) error {
		for range records {
		}
		return nil
	})
)

// runJob builds a job over the queued input with build, runs it to the end
// on a manual clock (all batches cut at once, computed back to back) and
// fails the benchmark on error.
func runJob(b *testing.B, workers int, build func(*runtime.Context, runtime.Stream[string])) {
	clock := runtime.NewManualClock(time.UnixMilli(0))
	c, err := runtime.NewContext(runtime.Config{
		BatchInterval: time.Second, Workers: workers, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	q := runtime.NewQueue[string]()
	for _, batch := range input() {
		q.Push(batch...)
	}
	q.Close()
	build(c, runtime.QueueStream(c, q))
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	clock.Advance(benchBatches * time.Second)
	if err := c.AwaitTermination(); err != nil {
		b.Fatal(err)
	}
}

func report(b *testing.B, workers int) {
	records := float64(b.N) * benchBatches * benchPerBatch
	b.ReportMetric(records/b.Elapsed().Seconds()/float64(workers), "records/s/core")
}

func BenchmarkGrep(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			input()
			for b.Loop() {
				runJob(b, workers, func(c *runtime.Context, lines runtime.Stream[string]) {
					lines.Filter(grepMatch).Count().ForeachBatch(runtime.Func("bench.grep.sink", func(runtime.Batch[int64]) error { return nil }))
				})
			}
			report(b, workers)
		})
	}
}

func BenchmarkGrepHand(b *testing.B) {
	var matches int
	input()
	for b.Loop() {
		for _, batch := range input() {
			n := 0
			for _, line := range batch {
				if strings.Contains(line, benchPattern) {
					n++
				}
			}
			matches += n
		}
	}
	report(b, 1)
	_ = matches
}

func BenchmarkWordCount(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			input()
			for b.Loop() {
				runJob(b, workers, func(c *runtime.Context, lines runtime.Stream[string]) {
					words := runtime.Map(runtime.FlatMap(lines, splitWords), wordOne)
					runtime.ReduceByKey(words, runtime.Sum[int64](), 0).ForeachPartition(drain)
				})
			}
			report(b, workers)
		})
	}
}

func BenchmarkWordCountHand(b *testing.B) {
	input()
	for b.Loop() {
		for _, batch := range input() {
			counts := map[string]int64{}
			for _, line := range batch {
				for _, w := range strings.Fields(line) {
					counts[w]++
				}
			}
			for range counts {
			}
		}
	}
	report(b, 1)
}

func BenchmarkWindowedWordCount(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			input()
			for b.Loop() {
				runJob(b, workers, func(c *runtime.Context, lines runtime.Stream[string]) {
					words := runtime.Map(runtime.FlatMap(lines, splitWords), wordOne)
					runtime.ReduceByKeyAndWindowInv(words, runtime.Sum[int64](), runtime.Subtract[int64](),
						runtime.NonZero[string, int64](), 30*time.Second, time.Second, 0).ForeachPartition(drain)
				})
			}
			report(b, workers)
		})
	}
}

// BenchmarkWindowedWordCountHand keeps the 30-batch window incrementally,
// as the engine does: add the entering batch's counts, subtract the leaving
// batch's, drop zeros, emit the window.
func BenchmarkWindowedWordCountHand(b *testing.B) {
	const window = 30
	input()
	for b.Loop() {
		var perBatch []map[string]int64
		counts := map[string]int64{}
		for i, batch := range input() {
			bc := map[string]int64{}
			for _, line := range batch {
				for _, w := range strings.Fields(line) {
					bc[w]++
				}
			}
			perBatch = append(perBatch, bc)
			for w, n := range bc {
				counts[w] += n
			}
			if i >= window {
				for w, n := range perBatch[i-window] {
					if counts[w] -= n; counts[w] == 0 {
						delete(counts, w)
					}
				}
				perBatch[i-window] = nil
			}
			for range counts {
			}
		}
	}
	report(b, 1)
}
