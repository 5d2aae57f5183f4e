// Command driver runs a StreamingJob's driver: it loads the manifest, owns
// the batch clock, tracks the executors and serves status, metrics and
// probes over HTTP. Every flag can also be set as TRIBUTARY_<FLAG>.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/tributary-dev/tributary/internal/cli"
	"github.com/tributary-dev/tributary/runtime/cluster"
)

func main() {
	var o cluster.DriverOptions
	fs := pflag.NewFlagSet("driver", pflag.ExitOnError)
	fs.StringVar(&o.JobFile, "job-file", "", "path of the StreamingJob manifest")
	fs.StringVar(&o.JobYAML, "job", "", "the StreamingJob manifest itself (usually from the environment)")
	fs.StringVar(&o.GRPCAddress, "listen", ":7077", "address executors connect to")
	fs.StringVar(&o.AdvertiseAddress, "advertise", "", "address executors use to reach --listen (default: the listener's)")
	fs.StringVar(&o.HTTPAddress, "http", ":8080", "address of /status, /metrics, /healthz and /readyz")
	fs.StringVar(&o.Auth.Secret, "secret", "", "shared secret that authenticates executors (this or mTLS is required)")
	fs.StringVar(&o.Auth.TLS.CA, "tls-ca", "", "mTLS: CA certificate that signs every process's certificate")
	fs.StringVar(&o.Auth.TLS.Cert, "tls-cert", "", "mTLS: this process's certificate")
	fs.StringVar(&o.Auth.TLS.Key, "tls-key", "", "mTLS: this process's key")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", 0, "how often executors heartbeat (default 1s)")
	fs.DurationVar(&o.HeartbeatTimeout, "heartbeat-timeout", 0, "an executor silent this long is lost (default 5 intervals)")
	fs.IntVar(&o.Workers, "workers", 0, "workers for the driver's own tasks: inputs and outputs (default: spec.executors.replicas)")
	fs.BoolVar(&o.DiscardCheckpoints, "discard-checkpoints", false, "delete the job's checkpoints and start from empty instead of resuming")
	fs.StringVar(&o.RestoreID, "restore-id", "", "start once from --restore-from (or from empty without it); a restart with the same ID resumes instead")
	fs.StringVar(&o.RestoreFrom, "restore-from", "", "checkpoint location to start from, such as a savepoint's (needs --restore-id)")
	if err := cli.BindEnv(fs); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(2)
	}
	_ = fs.Parse(os.Args[1:])
	o.Stdout, o.Logger = os.Stdout, slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cluster.RunDriver(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}
