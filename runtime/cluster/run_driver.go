package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tributary-dev/tributary/runtime/pipeline"
)

// DriverOptions configure a driver process.
type DriverOptions struct {
	// JobFile is the manifest's path; JobYAML the manifest itself (for the
	// environment variable the operator sets). Exactly one is required.
	JobFile string
	JobYAML string
	// GRPCAddress serves executors; HTTPAddress serves status, metrics and probes.
	GRPCAddress string
	// AdvertiseAddress is where executors reach GRPCAddress (the driver's
	// Service in a cluster). Empty means the listener's address.
	AdvertiseAddress string
	HTTPAddress      string
	Auth             Auth
	// HeartbeatInterval and HeartbeatTimeout: see DriverConfig.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// Workers run the driver's own tasks (inputs and outputs).
	// Zero means the manifest's executors.replicas.
	Workers int
	// DiscardCheckpoints deletes the job's checkpoints and starts from
	// empty, instead of resuming from them.
	DiscardCheckpoints bool
	// RestoreID and RestoreFrom start the job once from a savepoint or
	// another location (RestoreFrom), or from empty: see pipeline.Options.
	// The operator sets them for upgrades and spec.restoreFrom.
	RestoreID   string
	RestoreFrom string
	Stdout      io.Writer
	Logger      *slog.Logger
}

// RunDriver loads the job, serves executors and the HTTP endpoint, and runs
// the job until it ends (a bounded job) or ctx is cancelled (a graceful
// stop). Executors are told to shut down when the driver stops.
func RunDriver(ctx context.Context, o DriverOptions) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	manifest, err := readJob(o)
	if err != nil {
		return err
	}
	job, err := pipeline.Parse(manifest)
	if err != nil {
		return err
	}
	d, err := NewDriver(DriverConfig{Auth: o.Auth, HeartbeatInterval: o.HeartbeatInterval,
		HeartbeatTimeout: o.HeartbeatTimeout, Logger: o.Logger, JobYAML: string(manifest)})
	if err != nil {
		return err
	}
	grpcLis, err := net.Listen("tcp", o.GRPCAddress)
	if err != nil {
		return fmt.Errorf("executor listener: %w", err)
	}
	advertise := o.AdvertiseAddress
	if advertise == "" {
		advertise = grpcLis.Addr().String()
	}
	fetch := newFetcher(&d.cfg.Auth)
	defer fetch.close()
	// Every stage but inputs and output commits runs on executors, and so
	// do receivers.
	ssc, err := job.Build(pipeline.Options{Workers: o.Workers, Stdout: o.Stdout, Logger: o.Logger,
		TaskRunner: d, BlockAddress: advertise, FetchBlock: fetch.fetch, Receivers: d,
		Checkpoints: true, DiscardCheckpoints: o.DiscardCheckpoints, RestoreID: o.RestoreID, RestoreFrom: o.RestoreFrom})
	if err != nil {
		grpcLis.Close()
		return err
	}
	d.cfg.Parallelism = ssc.Parallelism()
	d.ServeBlocks(ssc.EncodedBlock)
	// A lost executor's blocks are recomputed from lineage when needed.
	d.OnExecutorLost(func(e ExecutorStatus) { ssc.LoseBlocksAt(e.BlockAddress) })
	httpLis, err := net.Listen("tcp", o.HTTPAddress)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("HTTP listener: %w", err)
	}
	// A stop asked for over HTTP (by the operator, with or without a
	// savepoint) is the same graceful stop as SIGTERM.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	hs := NewHTTPServer(job.Object.Name, d, ssc)
	hs.OnStop(stopRun)
	httpSrv := &http.Server{Handler: hs, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.Serve(grpcLis) }()
	go func() { _ = httpSrv.Serve(httpLis) }()
	o.Logger.Info("driver serving", "job", job.Object.Name, "executors", grpcLis.Addr().String(), "http", httpLis.Addr().String())
	defer func() {
		d.Stop("the job has stopped")
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(shutdown)
	}()

	if err := ssc.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	hs.SetReady(true)
	ssc.StopWhenDone(runCtx, func() { o.Logger.Info("stopping: finishing the batches already cut") })
	if err := ssc.AwaitTermination(); err != nil {
		return err
	}
	if hs.stopSavepoint() != "" {
		// The operator starts the next driver from this savepoint: a stop
		// that could not take it must not look like success.
		if _, err := ssc.StopSavepoint(); err != nil {
			return err
		}
	}
	return nil
}

// readJob returns the manifest, which executors receive as it is.
func readJob(o DriverOptions) ([]byte, error) {
	switch {
	case o.JobFile != "" && o.JobYAML != "":
		return nil, errors.New("give the job as a file or as YAML, not both")
	case o.JobFile != "":
		return os.ReadFile(o.JobFile)
	case o.JobYAML != "":
		return []byte(o.JobYAML), nil
	}
	return nil, errors.New("no job: give a manifest file or set TRIBUTARY_JOB")
}
