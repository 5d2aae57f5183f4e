// Command tributary runs and validates StreamingJob manifests locally.
package main

import (
	"context"
	"os"

	"github.com/tributary-dev/tributary/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
