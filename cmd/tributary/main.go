// Command tributary runs and validates StreamingJob manifests locally, and
// runs the cluster's processes: the image links manager, driver and
// executor to it, and a link's name picks the role, as a subcommand does.
package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/tributary-dev/tributary/internal/cli"
)

func main() {
	if role, ok := cli.RoleMain(filepath.Base(os.Args[0])); ok {
		os.Exit(role(os.Args[1:]))
	}
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
