package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	goruntime "runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/runtime"
	"github.com/tributary-dev/tributary/runtime/pipeline"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitInvalid = 2
)

// invalidManifest marks errors that exit with exitInvalid.
type invalidManifest struct{ err error }

func (e invalidManifest) Error() string { return e.err.Error() }
func (e invalidManifest) Unwrap() error { return e.err }

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(ctx, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var invalid invalidManifest
	if errors.As(err, &invalid) {
		fmt.Fprintln(stderr, invalid.err)
		return exitInvalid
	}
	fmt.Fprintln(stderr, "error:", err)
	return exitFailed
}

func newRoot(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "tributary",
		Short: "Run and check Tributary streaming jobs",
		Long: "Tributary runs streaming jobs described by StreamingJob manifests (tributary.dev/v1alpha1).\n" +
			"The manifest that kubectl applies also runs here, on one machine, with no cluster.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetContext(ctx)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCommand(), newValidateCommand(), newVersionCommand())
	for _, r := range roles {
		root.AddCommand(roleCommand(r))
	}
	return root
}

func load(path string) (*pipeline.Job, error) {
	job, err := pipeline.Load(path)
	var list pipeline.ErrorList
	if errors.As(err, &list) {
		return nil, invalidManifest{fmt.Errorf("%s is not a valid StreamingJob:\n%w", path, err)}
	}
	return job, err
}

func newValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a manifest offline: its schema, its CEL expressions and its graph",
		Long: "validate checks a StreamingJob manifest against the same schema and CEL rules as the API server,\n" +
			"then checks the pipeline graph and compiles every CEL expression. It prints every error with its\n" +
			"field path and exits 2 if there is any.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, err := load(args[0])
			if err != nil {
				return err
			}
			p := job.Object.Spec.Pipeline
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid StreamingJob %q (%d sources, %d streams, %d outputs)\n",
				args[0], job.Object.Name, len(p.Sources), len(p.Streams), len(p.Outputs))
			return nil
		},
	}
}

func newRunCommand() *cobra.Command {
	var workers int
	var verbose, discard bool
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a manifest locally",
		Long: "run executes a StreamingJob manifest in local mode: the driver and the executors are goroutines of\n" +
			"this process. It prints a line per committed batch and what the print outputs write. Ctrl-C stops\n" +
			"gracefully: the batches already cut finish and commit. A job whose sources are all bounded exits 0\n" +
			"after its last batch commits.\n\n" +
			"Checkpoints go to spec.checkpoint.location, by default the directory <job name>.checkpoint here. A run\n" +
			"that finds checkpoints of an unfinished run resumes from them: state, windows and the batches that\n" +
			"had not committed. A finished run's checkpoints are replaced by the new run's.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, err := load(args[0])
			if err != nil {
				return err
			}
			return run(cmd.Context(), job, runOptions{workers: workers, verbose: verbose, discard: discard}, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().IntVar(&workers, "workers", 0, "worker goroutines; overrides spec.executors.replicas")
	cmd.Flags().BoolVar(&discard, "discard-checkpoints", false, "delete the job's checkpoints and start from empty instead of resuming")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log the engine's debug messages")
	return cmd
}

type runOptions struct {
	workers          int
	verbose, discard bool
}

func run(ctx context.Context, job *pipeline.Job, o runOptions, stdout, stderr io.Writer) error {
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	ssc, err := job.Build(pipeline.Options{
		Workers:            o.workers,
		Stdout:             stdout,
		Logger:             slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Checkpoints:        true,
		DiscardCheckpoints: o.discard,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-24s %10s %12s %12s %12s\n", "BATCH", "RECORDS", "SCHEDULING", "PROCESSING", "TOTAL DELAY")
	ssc.AddListener(runtime.ListenerFunc(func(b runtime.BatchInfo) {
		fmt.Fprintf(stdout, "%-24s %10d %12s %12s %12s\n", b.Time.Std().UTC().Format("15:04:05.000"),
			b.InputRecords, b.SchedulingDelay.Round(10_000), b.ProcessingTime.Round(10_000), b.TotalDelay.Round(10_000))
	}))
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := ssc.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	if st, _ := ssc.Checkpoints(); st.RecoveredFrom != "" {
		fmt.Fprintf(stderr, "resuming from checkpoint %s/%s\n", st.Location, st.RecoveredFrom)
	}
	ssc.StopWhenDone(sigCtx, func() { fmt.Fprintln(stderr, "stopping: finishing the batches already cut") })
	if err := ssc.AwaitTermination(); err != nil {
		return err
	}
	m := ssc.Metrics()
	fmt.Fprintf(stdout, "%d batches, %d records\n", m.CompletedBatches, m.TotalRecords)
	return nil
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "tributary %s (%s, %s/%s)\n", Version, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
		},
	}
}
