package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/tributary-dev/tributary/runtime"
	"github.com/tributary-dev/tributary/runtime/checkpoint"
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
	// Parallelism overrides spec.parallelism: an executor builds the graph
	// with the driver's resolved partition counts.
	Parallelism int
	// Cluster wires the context into a cluster: see runtime.Config.
	TaskRunner   runtime.TaskRunner
	BlockAddress string
	FetchBlock   func(ctx context.Context, address string, id runtime.BlockID) ([]byte, error)
	Receivers    runtime.ReceiverScheduler
	// Checkpoints writes checkpoints where the manifest's checkpoint
	// section says, and resumes from them: what a driver does, never an
	// executor.
	Checkpoints bool
	// DiscardCheckpoints deletes the existing checkpoints first, starting
	// the job from empty: only ever on the user's explicit request.
	DiscardCheckpoints bool
	// RestoreID, when set, starts the job once from RestoreFrom, or from
	// empty when RestoreFrom is empty: see runtime.Restore. RestoreFrom is a
	// checkpoint location (a savepoint's, or another job's), reached with
	// the manifest's checkpoint endpoint, TLS and credentials.
	RestoreID   string
	RestoreFrom string
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
	parallelism := int(spec.Parallelism)
	if opts.Parallelism > 0 {
		parallelism = opts.Parallelism
	}
	var ck *runtime.CheckpointConfig
	if opts.Checkpoints {
		creds, err := checkpoint.CredentialsFromEnv()
		if err != nil {
			return nil, err
		}
		store, err := checkpoint.Open(spec.Checkpoint, j.Object.Name, creds)
		if err != nil {
			return nil, err
		}
		ck = &runtime.CheckpointConfig{Store: store, Retain: int(spec.Checkpoint.Retain), Discard: opts.DiscardCheckpoints}
		if opts.RestoreID != "" {
			ck.Restore = &runtime.Restore{ID: opts.RestoreID}
			if opts.RestoreFrom != "" {
				from := spec.Checkpoint
				from.Location = opts.RestoreFrom
				if ck.Restore.From, err = checkpoint.Open(from, j.Object.Name, creds); err != nil {
					return nil, fmt.Errorf("restoring from %s: %w", opts.RestoreFrom, err)
				}
			}
		} else if opts.RestoreFrom != "" {
			return nil, errors.New("restoring from a location needs a restore ID")
		}
		if spec.Checkpoint.Interval != nil {
			ck.Interval = spec.Checkpoint.Interval.Duration
		}
	}
	ctx, err := runtime.NewContext(runtime.Config{
		BatchInterval: spec.BatchInterval.Duration,
		Workers:       workers,
		Parallelism:   parallelism,
		Clock:         opts.Clock,
		FailurePolicy: runtime.FailurePolicy{Mode: mode, MaxRetries: int(spec.FailurePolicy.MaxRetries)},
		Registry:      runtime.NewRegistry(),
		Logger:        opts.Logger,
		Stdout:        opts.Stdout,
		TaskRunner:    opts.TaskRunner,
		BlockAddress:  opts.BlockAddress,
		FetchBlock:    opts.FetchBlock,
		Receivers:     opts.Receivers,
		Checkpoint:    ck,
		// Executors reach the checkpoint store for receivers' logs.
		LogStore: func() (checkpoint.Store, error) {
			creds, err := checkpoint.CredentialsFromEnv()
			if err != nil {
				return nil, err
			}
			return checkpoint.Open(spec.Checkpoint, j.Object.Name, creds)
		},
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
