// Command executor runs one executor: it registers with the driver,
// heartbeats and serves its blocks to peers. Every flag can also be set as
// TRIBUTARY_<FLAG>.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	goruntime "runtime"
	"runtime/debug"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/tributary-dev/tributary/internal/cli"
	"github.com/tributary-dev/tributary/runtime/cluster"
)

func main() {
	var c cluster.ExecutorConfig
	var listen string
	host, _ := os.Hostname()
	fs := pflag.NewFlagSet("executor", pflag.ExitOnError)
	fs.StringVar(&c.ID, "id", host, "executor ID, stable across restarts of the same pod")
	fs.StringVar(&c.DriverAddress, "driver", "", "driver address, host:port (required)")
	fs.StringVar(&listen, "listen", ":7078", "address that serves this executor's blocks")
	fs.StringVar(&c.AdvertiseAddress, "advertise", "", "address peers use to reach --listen (default: the listener's)")
	fs.StringVar(&c.Auth.Secret, "secret", "", "shared secret (this or mTLS is required)")
	fs.StringVar(&c.Auth.TLS.CA, "tls-ca", "", "mTLS: CA certificate that signs every process's certificate")
	fs.StringVar(&c.Auth.TLS.Cert, "tls-cert", "", "mTLS: this process's certificate")
	fs.StringVar(&c.Auth.TLS.Key, "tls-key", "", "mTLS: this process's key")
	fs.IntVar(&c.Cores, "cores", goruntime.GOMAXPROCS(0), "cores to offer")
	fs.Int64Var(&c.MemoryBytes, "memory-bytes", 1<<30, "memory bound: the Go soft memory limit, and over it new tasks are refused")
	fs.DurationVar(&c.DriverLossTimeout, "driver-loss-timeout", 0, "exit after the driver is unreachable this long (default 30s)")
	if err := cli.BindEnv(fs); err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		os.Exit(2)
	}
	_ = fs.Parse(os.Args[1:])
	c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// The collector works harder as the heap nears the bound; beyond it the
	// executor refuses tasks (cluster.Executor.admit).
	debug.SetMemoryLimit(c.MemoryBytes)
	e, err := cluster.NewExecutor(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		os.Exit(2)
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := e.Run(ctx, lis); err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		os.Exit(1)
	}
}
