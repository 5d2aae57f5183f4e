package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// GeneratorOptions configure GeneratorStream.
type GeneratorOptions struct {
	// RecordsPerSecond is the rate, in batch time. Required.
	RecordsPerSecond int64
	// RecordSize is the length of each record in bytes. Zero means 100.
	RecordSize int
	// Count, if positive, bounds the stream: it ends after Count records.
	Count int64
	// Seed selects the records; the same seed gives the same records.
	Seed uint64
	// Partitions per batch. Zero means the context's parallelism.
	Partitions int
}

// generatorWords is the vocabulary records are made from, so that grep and
// word count have something to find.
var generatorWords = strings.Fields("the quick brown fox jumps over lazy dog stream batch window state key value " +
	"spark flink tributary driver executor partition shuffle lineage checkpoint alpha beta gamma delta epsilon")

// GeneratorStream returns a rate-controlled stream of text records for
// benchmarks and load tests: RecordsPerSecond records per second of batch
// time, each RecordSize bytes of space-separated words. Record i is a pure
// function of (Seed, i), so the source is replayable without storing data.
func GeneratorStream(c *Context, opts GeneratorOptions) Stream[string] {
	params := map[string]string{
		"recordsPerSecond": strconv.FormatInt(opts.RecordsPerSecond, 10),
		"recordSize":       strconv.Itoa(opts.RecordSize),
		"count":            strconv.FormatInt(opts.Count, 10),
		"seed":             strconv.FormatUint(opts.Seed, 10),
		"partitions":       strconv.Itoa(opts.Partitions),
	}
	return addStream(c, NodeSpec{Op: "generator", Params: params}, nil, nil, nil, func(b *builder) (streamNode[string], error) {
		var o GeneratorOptions
		var err error
		p := b.spec.Params
		if o.RecordsPerSecond, err = strconv.ParseInt(p["recordsPerSecond"], 10, 64); err != nil || o.RecordsPerSecond <= 0 {
			return nil, errors.New("recordsPerSecond must be a positive integer")
		}
		if o.RecordSize, err = strconv.Atoi(p["recordSize"]); err != nil || o.RecordSize < 0 {
			return nil, errors.New("recordSize must be a non-negative integer")
		}
		if o.Count, err = strconv.ParseInt(p["count"], 10, 64); err != nil || o.Count < 0 {
			return nil, errors.New("count must be a non-negative integer")
		}
		if o.Seed, err = strconv.ParseUint(p["seed"], 10, 64); err != nil {
			return nil, errors.New("seed must be an unsigned integer")
		}
		if o.Partitions, err = strconv.Atoi(p["partitions"]); err != nil || o.Partitions < 0 {
			return nil, errors.New("partitions must be a non-negative integer")
		}
		if o.RecordSize == 0 {
			o.RecordSize = 100
		}
		if o.Partitions == 0 {
			o.Partitions = b.ctx.cfg.Parallelism
		}
		return newInputStream[string](&generatorSource{opts: o, zero: &b.ctx.zeroTime}), nil
	})
}

type generatorSource struct {
	opts GeneratorOptions
	zero *Time
	next int64
}

func (g *generatorSource) Open(context.Context) error { return nil }
func (g *generatorSource) Close() error               { return nil }
func (g *generatorSource) Exhausted() bool            { return g.opts.Count > 0 && g.next >= g.opts.Count }

func (g *generatorSource) Plan(_ context.Context, t Time) (Input[string], error) {
	due := int64(t-*g.zero) * g.opts.RecordsPerSecond / 1000
	if g.opts.Count > 0 && due > g.opts.Count {
		due = g.opts.Count
	}
	in := generatorInput{opts: &g.opts, from: g.next, to: max(due, g.next)}
	g.next = in.to
	return in, nil
}

// generatorInput is the record range [from, to), split into partitions.
type generatorInput struct {
	opts     *GeneratorOptions
	from, to int64
}

func (in generatorInput) Partitions() int {
	if in.to == in.from {
		return 0
	}
	return int(min(int64(in.opts.Partitions), in.to-in.from))
}

func (in generatorInput) Read(_ context.Context, p int, yield func(string) bool) error {
	n, parts := in.to-in.from, int64(in.Partitions())
	lo, hi := in.from+int64(p)*n/parts, in.from+int64(p+1)*n/parts
	buf := make([]byte, 0, in.opts.RecordSize)
	for i := lo; i < hi; i++ {
		if !yield(GeneratedRecord(buf[:0], in.opts.Seed, i, in.opts.RecordSize)) {
			return nil
		}
	}
	return nil
}

// GeneratedRecord returns record i of a generator with the given seed and
// record size, appending to buf. Benchmarks use it to build the same input for
// hand-written baselines.
func GeneratedRecord(buf []byte, seed uint64, i int64, size int) string {
	x := seed ^ uint64(i)*0x9E3779B97F4A7C15
	for {
		// splitmix64: cheap, well mixed and deterministic.
		x += 0x9E3779B97F4A7C15
		z := x
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		z ^= z >> 31
		w := generatorWords[z%uint64(len(generatorWords))]
		sep := 0
		if len(buf) > 0 {
			sep = 1
		}
		if len(buf)+sep+len(w) > size {
			break
		}
		if sep == 1 {
			buf = append(buf, ' ')
		}
		buf = append(buf, w...)
	}
	// Pad with spaces rather than cutting a word in half.
	for len(buf) < size {
		buf = append(buf, ' ')
	}
	return string(buf)
}

// The generator is replayable: its position is the next record's index and
// a plan is a record range, both pure numbers.

type generatorPosition struct {
	Next int64 `json:"next"`
}

type generatorRange struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

func (g *generatorSource) Position() ([]byte, error) {
	return json.Marshal(generatorPosition{Next: g.next})
}

func (g *generatorSource) Restore(position []byte) error {
	var p generatorPosition
	if err := json.Unmarshal(position, &p); err != nil {
		return fmt.Errorf("generator position: %w", err)
	}
	if p.Next < 0 {
		return fmt.Errorf("generator position: negative record index %d", p.Next)
	}
	g.next = p.Next
	return nil
}

func (g *generatorSource) EncodeInput(in Input[string]) ([]byte, error) {
	r, ok := in.(generatorInput)
	if !ok {
		return nil, fmt.Errorf("generator input of type %T", in)
	}
	return json.Marshal(generatorRange{From: r.from, To: r.to})
}

func (g *generatorSource) DecodeInput(data []byte) (Input[string], error) {
	var r generatorRange
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("generator plan: %w", err)
	}
	if r.From < 0 || r.To < r.From {
		return nil, fmt.Errorf("generator plan: invalid record range [%d, %d)", r.From, r.To)
	}
	return generatorInput{opts: &g.opts, from: r.From, to: r.To}, nil
}
