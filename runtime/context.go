package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-dev/tributary/runtime/checkpoint"
)

// Config configures a Context.
type Config struct {
	// BatchInterval is the time between batches. Required.
	BatchInterval time.Duration
	// Workers is the number of worker goroutines that run tasks: local[N].
	// Zero means GOMAXPROCS.
	Workers int
	// Parallelism is the default partition count of shuffles (reduceByKey,
	// join, state, ...). Zero means Workers.
	Parallelism int
	// Clock cuts batches. Nil means the real clock.
	Clock Clock
	// MaxConcurrentBatches bounds timestep pipelining: how many batches may
	// be computed at once. Outputs always commit in batch order. Zero means 2.
	MaxConcurrentBatches int
	// FailurePolicy says what happens when a batch fails.
	FailurePolicy FailurePolicy
	// Registry resolves function names on Rebuild. Nil means DefaultRegistry.
	Registry *Registry
	// Logger receives structured logs. Nil means slog.Default().
	Logger *slog.Logger
	// MetricsRetained is how many completed batches Metrics keeps. Zero means 1000.
	MetricsRetained int
	// Stdout receives what Print writes. Nil means os.Stdout.
	Stdout io.Writer

	// TaskRunner, in the driver of a cluster, runs stage tasks on executors.
	TaskRunner TaskRunner
	// BlockAddress is where this process serves its blocks (cluster mode).
	BlockAddress string
	// FetchBlock reads a block from the process at an address (cluster mode).
	FetchBlock func(ctx context.Context, address string, id BlockID) ([]byte, error)
	// Receivers, in the driver of a cluster, runs receivers on executors.
	Receivers ReceiverScheduler

	// Checkpoint, if set, writes checkpoints and makes Start recover from
	// the newest one at its store.
	Checkpoint *CheckpointConfig
	// LogStore opens the store of receivers' write-ahead logs on an
	// executor (a worker context), which has no Checkpoint: the driver's
	// checkpoint store, reached from here. A driver logs to
	// Checkpoint.Store.
	LogStore func() (checkpoint.Store, error)
}

func (c Config) withDefaults() (Config, error) {
	if c.BatchInterval <= 0 {
		return c, errors.New("batch interval must be positive")
	}
	if c.BatchInterval%time.Millisecond != 0 {
		return c, fmt.Errorf("batch interval %s is not a whole number of milliseconds", c.BatchInterval)
	}
	if c.Workers <= 0 {
		c.Workers = goruntime.GOMAXPROCS(0)
	}
	if c.Parallelism <= 0 {
		c.Parallelism = c.Workers
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.MaxConcurrentBatches <= 0 {
		c.MaxConcurrentBatches = 2
	}
	if c.Registry == nil {
		c.Registry = DefaultRegistry
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.MetricsRetained <= 0 {
		c.MetricsRetained = 1000
	}
	if c.FailurePolicy.Mode == "" {
		c.FailurePolicy.Mode = StopJob
	}
	if m := c.FailurePolicy.Mode; m != StopJob && m != RetryBatch {
		return c, fmt.Errorf("failure policy mode %q: want %q or %q", m, StopJob, RetryBatch)
	}
	if c.Checkpoint != nil {
		ck, err := c.Checkpoint.withDefaults(c.BatchInterval)
		if err != nil {
			return c, err
		}
		c.Checkpoint = &ck
	}
	return c, nil
}

// Context is a streaming computation: a batch interval, a graph of streams
// and the machinery that runs it. Build the graph, then Start it; a context
// runs once.
type Context struct {
	cfg      Config
	registry *Registry
	log      *slog.Logger

	mu       sync.Mutex
	nodes    []node
	names    map[string]*nodeInfo
	inputs   []inputNode
	outputs  []outputNode
	buildErr error
	started  bool

	zeroTime Time
	sched    *scheduler
	blocks   *blockStore
	work     worker
	// speculated counts speculative task copies launched.
	speculated atomic.Int64
	metrics    *metricsStore
	run        *runState
	ckpt       *checkpointer

	// planMu is held while the batch clock plans a batch, so that a
	// metadata checkpoint sees every source at the same batch boundary.
	planMu         sync.Mutex
	plannedThrough Time

	// logStore is where this worker's hosted receivers write their logs.
	logStoreOnce sync.Once
	logStore     checkpoint.Store
	logStoreErr  error
}

// NewContext returns a context with an empty graph.
func NewContext(cfg Config) (*Context, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("streaming context: %w", err)
	}
	c := &Context{
		cfg:      cfg,
		registry: cfg.Registry,
		log:      cfg.Logger,
		names:    map[string]*nodeInfo{},
		metrics:  newMetricsStore(cfg.MetricsRetained),
		blocks:   newBlockStore(cfg.FetchBlock),
	}
	if cfg.Checkpoint != nil {
		c.ckpt = newCheckpointer(c, *cfg.Checkpoint)
	}
	return c, nil
}

// BatchInterval returns the context's batch interval.
func (c *Context) BatchInterval() time.Duration { return c.cfg.BatchInterval }

// Parallelism returns the default partition count of shuffles.
func (c *Context) Parallelism() int { return c.cfg.Parallelism }

// Err returns the first error found while building the graph: an invalid
// window, a duplicate name, a missing function. Start returns it too.
func (c *Context) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buildErr
}

func (c *Context) failBuild(err error) {
	if c.buildErr == nil {
		c.buildErr = err
	}
}

// streamBuildError is an operator that failed to build. It names the stream
// by its final name: the SDK builds an operator before Named renames it.
type streamBuildError struct {
	stream string
	err    error
}

func (e *streamBuildError) Error() string { return fmt.Sprintf("stream %q: %v", e.stream, e.err) }
func (e *streamBuildError) Unwrap() error { return e.err }

// addNode runs an operator's constructor and adds the result to the graph.
// SDK calls and Rebuild both come through here, so a rebuilt graph is built by
// the same code as the original.
func (c *Context) addNode(spec *NodeSpec, parents []node, fns, values map[string]any, build buildFunc) (node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		err := fmt.Errorf("stream %q: cannot add streams to a started context", spec.Name)
		c.failBuild(err)
		return nil, err
	}
	id := len(c.nodes) + 1
	if spec.Name == "" {
		spec.Name = fmt.Sprintf("%s-%d", spec.Op, id)
	}
	spec.ID = id
	spec.Parents = nil
	for _, p := range parents {
		if p.info().ctx != c {
			err := fmt.Errorf("stream %q: parent %q belongs to another context", spec.Name, p.info().name)
			c.failBuild(err)
			return nil, err
		}
		spec.Parents = append(spec.Parents, p.info().id)
	}
	for role, f := range fns {
		if spec.Funcs == nil {
			spec.Funcs = map[string]string{}
		}
		spec.Funcs[role] = f.(interface{ Name() string }).Name()
	}
	b := &builder{ctx: c, spec: spec, parents: parents, fns: fns, values: values}
	n, err := build(b)
	if err != nil {
		err = &streamBuildError{stream: spec.Name, err: err}
		c.failBuild(err)
		return nil, err
	}
	in := n.info()
	in.ctx, in.id, in.name, in.spec, in.parents = c, id, spec.Name, *spec, parents
	if in.slide == 0 {
		in.slide = c.cfg.BatchInterval
		for _, p := range parents {
			if s := p.info().slide; s > in.slide {
				in.slide = s
			}
		}
	}
	if _, dup := c.names[in.name]; dup {
		c.failBuild(fmt.Errorf("stream name %q is used twice", in.name))
	}
	c.names[in.name] = in
	c.nodes = append(c.nodes, n)
	if i, ok := n.(inputNode); ok {
		c.inputs = append(c.inputs, i)
	}
	if o, ok := n.(outputNode); ok {
		c.outputs = append(c.outputs, o)
	}
	return n, nil
}

func (c *Context) rename(in *nodeInfo, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name == in.name {
		return
	}
	if be, ok := c.buildErr.(*streamBuildError); ok && be.stream == in.name {
		be.stream = name
	}
	if _, dup := c.names[name]; dup {
		c.failBuild(fmt.Errorf("stream name %q is used twice", name))
		return
	}
	delete(c.names, in.name)
	in.name, in.spec.Name = name, name
	c.names[name] = in
}

// addStream adds an operator that produces a stream of T.
func addStream[T any](c *Context, spec NodeSpec, parents []node, fns, values map[string]any, build func(*builder) (streamNode[T], error)) Stream[T] {
	spec.Type = typeName[T]()
	bf := buildFunc(func(b *builder) (node, error) {
		n, err := build(b)
		if err != nil {
			return nil, err
		}
		n.info().materialize = func(t Time) error { _, err := get(n, t); return err }
		if n.info().saver == nil {
			n.info().saver = typedSaver[T]{n}
		}
		return n, nil
	})
	var ptypes []string
	for _, p := range parents {
		ptypes = append(ptypes, p.info().spec.Type)
	}
	builders.LoadOrStore(builderKey(spec.Op, ptypes, spec.Type), bf)
	n, err := c.addNode(&spec, parents, fns, values, bf)
	if err != nil {
		// Keep the fluent API chainable; Start reports the error.
		return Stream[T]{n: &brokenNode[T]{nodeInfo: nodeInfo{ctx: c, name: spec.Name, slide: c.cfg.BatchInterval}, err: err}}
	}
	return Stream[T]{n: n.(streamNode[T])}
}

// addOutput adds an output operation.
func addOutput(c *Context, spec NodeSpec, parents []node, fns, values map[string]any, build func(*builder) (outputNode, error)) {
	spec.Type = "output"
	bf := buildFunc(func(b *builder) (node, error) { return build(b) })
	var ptypes []string
	for _, p := range parents {
		ptypes = append(ptypes, p.info().spec.Type)
	}
	builders.LoadOrStore(builderKey(spec.Op, ptypes, spec.Type), bf)
	_, _ = c.addNode(&spec, parents, fns, values, bf)
}

func fns(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// brokenNode stands in for an operator that failed to build, so that graph
// construction can continue and Start can report the first error.
type brokenNode[T any] struct {
	nodeInfo
	memo[T]
	err error
}

func (n *brokenNode[T]) compute(Time) (*dataset[T], error) { return nil, n.err }

// validate checks the whole graph before it runs and sizes how long each
// stream remembers its batches.
func (c *Context) validate() error {
	if c.buildErr != nil {
		return c.buildErr
	}
	if len(c.outputs) == 0 {
		return ErrNoOutput
	}
	if len(c.inputs) == 0 {
		return errors.New("the stream graph has no source")
	}
	// Children are added after their parents, so walking backwards visits
	// every consumer of a stream before the stream itself.
	for i := len(c.nodes) - 1; i >= 0; i-- {
		n := c.nodes[i].info()
		n.needRemember(n.slide)
		look := time.Duration(0)
		if l, ok := c.nodes[i].(interface{ parentLookback() time.Duration }); ok {
			look = l.parentLookback()
		}
		for _, p := range n.parents {
			p.info().needRemember(n.remember + look)
			if look > 0 {
				p.info().checkpointed = true
			}
		}
		if n.selfDependent {
			n.checkpointed = true
		}
	}
	c.nameSavedStreams()
	return nil
}

// nameSavedStreams sets each stream's savedAs. Consumers come after the
// streams they read, so walking backwards names a consumer first.
func (c *Context) nameSavedStreams() {
	firstChild := map[*nodeInfo]*nodeInfo{}
	for _, n := range c.nodes {
		for _, p := range n.info().parents {
			if _, ok := firstChild[p.info()]; !ok {
				firstChild[p.info()] = n.info()
			}
		}
	}
	for i := len(c.nodes) - 1; i >= 0; i-- {
		n := c.nodes[i].info()
		n.savedAs = n.name
		if child, ok := firstChild[n]; ok && n.name == fmt.Sprintf("%s-%d", n.spec.Op, n.id) {
			n.savedAs = child.savedAs + "<" + n.spec.Op
		}
	}
}
