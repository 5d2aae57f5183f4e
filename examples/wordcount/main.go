// Command wordcount runs a word count locally on embedded defaults: a
// bounded generator source, two worker goroutines and a 1 s batch interval.
// It prints each batch's counts and stops by itself when the generator is
// exhausted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/runtime"
)

var (
	splitWords = runtime.Func("wordcount.split", strings.Fields)
	pairOne    = runtime.Func("wordcount.one", func(w string) runtime.Pair[string, int64] { return runtime.KV(w, int64(1)) })
)

func main() {
	records := flag.Int64("records", 30000, "records to generate before stopping")
	rate := flag.Int64("rate", 10000, "records per second")
	interval := flag.Duration("batch-interval", time.Second, "batch interval")
	outDir := flag.String("out", "", "if set, also write each batch as JSON lines under this directory")
	flag.Parse()

	if err := run(*records, *rate, *interval, *outDir); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(records, rate int64, interval time.Duration, outDir string) error {
	ssc, err := runtime.NewContext(runtime.Config{BatchInterval: interval, Workers: 2})
	if err != nil {
		return err
	}
	lines := runtime.GeneratorStream(ssc, runtime.GeneratorOptions{RecordsPerSecond: rate, Count: records, RecordSize: 100})
	words := runtime.FlatMap(lines, splitWords).Named("words")
	counts := runtime.ReduceByKey(runtime.Map(words, pairOne), runtime.Sum[int64](), 0).Named("counts")
	counts.Print()
	if outDir != "" {
		counts.SaveAsJSONFiles(outDir)
	}
	if err := ssc.Start(context.Background()); err != nil {
		return err
	}
	if err := ssc.AwaitTermination(); err != nil {
		return err
	}
	m := ssc.Metrics()
	fmt.Printf("%d batches, %d records\n", m.CompletedBatches, m.TotalRecords)
	for _, b := range m.Batches {
		fmt.Printf("batch %s: %d records, scheduling delay %s, processing %s, total delay %s\n",
			b.Time, b.InputRecords, b.SchedulingDelay, b.ProcessingTime, b.TotalDelay)
	}
	return nil
}
