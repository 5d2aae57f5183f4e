package pipeline

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/tributary-dev/tributary/runtime"
)

// Options override what a local run takes from the manifest.
type Options struct {
	// Workers overrides spec.executors.replicas as the number of worker
	// goroutines. Zero keeps the manifest's value.
	Workers int
	// Clock overrides the real clock (tests).
	Clock runtime.Clock
	// Stdout receives print outputs. Nil means os.Stdout.
	Stdout io.Writer
	// Logger receives the engine's logs.
	Logger *slog.Logger
}

// Build creates a streaming context running the job. Each call builds a new,
// independent context.
func (j *Job) Build(opts Options) (*runtime.Context, error) {
	spec := &j.Object.Spec
	workers := opts.Workers
	if workers == 0 && spec.Executors.Replicas != nil {
		workers = int(*spec.Executors.Replicas)
	}
	if workers <= 0 {
		workers = 1
	}
	mode := runtime.FailureMode(spec.FailurePolicy.Mode)
	ctx, err := runtime.NewContext(runtime.Config{
		BatchInterval: spec.BatchInterval.Duration,
		Workers:       workers,
		Parallelism:   int(spec.Parallelism),
		Clock:         opts.Clock,
		FailurePolicy: runtime.FailurePolicy{Mode: mode, MaxRetries: int(spec.FailurePolicy.MaxRetries)},
		Registry:      runtime.NewRegistry(),
		Logger:        opts.Logger,
		Stdout:        opts.Stdout,
	})
	if err != nil {
		return nil, err
	}
	g := &graph{ctx: ctx, reg: ctx.Registry(), streams: map[string]built{}}
	for _, st := range append(append([]*step(nil), j.steps...), j.outs...) {
		if err := st.build(g); err != nil {
			return nil, fmt.Errorf("%s: %w", st.path, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ctx, nil
}
