//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/runtime"
	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// bucketStore is the suite's view of the bucket under prefix, through the
// port forward.
func bucketStore(prefix string) (checkpoint.Store, error) {
	addr, err := minioFwd.address()
	if err != nil {
		return nil, err
	}
	return checkpoint.NewS3(checkpoint.S3Config{Endpoint: addr, Bucket: bucket, Prefix: prefix, Insecure: true,
		Credentials: checkpoint.Credentials{AccessKeyID: minioUser, SecretAccessKey: minioPassword}})
}

// committed reads an output under the bucket, as a downstream reader
// following commit markers does.
func committed(prefix string) ([]runtime.CommittedBatch, error) {
	store, err := bucketStore(prefix)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runtime.ReadCommitted(ctx, store)
}

// objects lists the keys under a prefix of the bucket.
func objects(prefix string) ([]string, error) {
	store, err := bucketStore("")
	if err != nil {
		return nil, err
	}
	return store.List(context.Background(), prefix)
}

// wordCount is the failure-free expectation of a running word count over a
// generator source, computed here from the generator's records rather than
// by the engine: the batch at zero+k·interval has counted records
// [0, k·interval·rate) — every record once, none twice, whatever happened
// to the job on the way.
type wordCount struct {
	recordsPerSecond int64
	recordSize       int
	seed             uint64
	interval         time.Duration

	counted int64            // records counted so far
	counts  map[string]int64 // their words
}

func (w *wordCount) after(records int64) map[string]int64 {
	if records < w.counted || w.counts == nil {
		w.counted, w.counts = 0, map[string]int64{}
	}
	var buf []byte
	for ; w.counted < records; w.counted++ {
		for _, word := range strings.Fields(runtime.GeneratedRecord(buf[:0], w.seed, w.counted, w.recordSize)) {
			w.counts[word]++
		}
	}
	return maps.Clone(w.counts)
}

// check compares an output of running totals with the expectation: batches
// one interval apart with none missing, each holding exactly the totals of
// the records due by its time. It returns the totals by batch time.
func (w *wordCount) check(batches []runtime.CommittedBatch) (map[runtime.Time]map[string]int64, error) {
	if len(batches) == 0 {
		return nil, nil
	}
	first := batches[0].Time
	byTime := map[runtime.Time]map[string]int64{}
	for i, b := range batches {
		if want := first.Add(time.Duration(i) * w.interval); b.Time != want {
			return nil, fmt.Errorf("batch %d is at %s, want %s: batches between were lost", i, b.Time, want)
		}
		got, err := pairs(b)
		if err != nil {
			return nil, err
		}
		due := int64(b.Time.Sub(first)+w.interval) * w.recordsPerSecond / int64(time.Second)
		if want := w.after(due); !maps.Equal(got, want) {
			return nil, fmt.Errorf("batch %s (%d of %d) differs from the failure-free run, which has counted %d records:\n%s",
				b.Time, i+1, len(batches), due, diff(got, want))
		}
		byTime[b.Time] = got
	}
	return byTime, nil
}

// pairs reads a batch of {"key":…,"value":…} records.
func pairs(b runtime.CommittedBatch) (map[string]int64, error) {
	out := map[string]int64{}
	for _, line := range b.Records {
		var p struct {
			Key   string `json:"key"`
			Value int64  `json:"value"`
		}
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			return nil, fmt.Errorf("batch %s: record %q: %w", b.Time, line, err)
		}
		if _, dup := out[p.Key]; dup {
			return nil, fmt.Errorf("batch %s: key %q twice", b.Time, p.Key)
		}
		out[p.Key] = p.Value
	}
	return out, nil
}

func diff(got, want map[string]int64) string {
	keys := maps.Clone(got)
	maps.Copy(keys, want)
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if got[k] != want[k] {
			fmt.Fprintf(&b, "  %s: got %d, want %d\n", k, got[k], want[k])
		}
	}
	return b.String()
}
