package pipeline

// Throughput of manifest pipelines: the engine's operators instantiated with
// any, native steps and CEL expressions. Recorded in docs/benchmarks.md.
//
//	go test -run '^$' -bench Manifest -benchtime 3x ./runtime/pipeline/

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/runtime"
)

const benchRecords = 400_000

func benchManifest(b *testing.B, streams string) {
	m := manifest(fmt.Sprintf(`sources:
  - name: lines
    generator: {recordsPerSecond: %d, count: %d, seed: 42}
streams:
%s
outputs:
  - from: out
    print: {records: 1}
`, benchRecords/4, benchRecords, indent(streams, "  ")))
	job, err := Parse([]byte(m))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		clock := runtime.NewManualClock(time.UnixMilli(0))
		ctx, err := job.Build(Options{Workers: 2, Clock: clock, Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		if err := ctx.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		clock.Advance(4 * time.Second)
		if err := ctx.AwaitTermination(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*benchRecords/b.Elapsed().Seconds()/2, "records/s/core")
}

// Native steps only: split and countByValue.
func BenchmarkManifestWordCountNative(b *testing.B) {
	benchManifest(b, `- name: words
  from: lines
  split: {}
- name: out
  from: words
  countByValue: {}`)
}

// A CEL keyBy per word, then the native sum.
func BenchmarkManifestWordCountCEL(b *testing.B) {
	benchManifest(b, `- name: words
  from: lines
  split: {}
- name: pairs
  from: words
  keyBy: {key: "record", value: "1"}
- name: out
  from: pairs
  reduceByKey: {function: sum}`)
}

// A CEL filter per line (grep).
func BenchmarkManifestGrepCEL(b *testing.B) {
	benchManifest(b, `- name: out
  from: lines
  filter: "record.contains('tributary')"`)
}
