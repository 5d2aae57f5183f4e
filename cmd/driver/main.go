// Command driver runs the process of that role; see cli.DriverMain. The
// image runs the same code as `tributary driver`. Every flag can also be
// set as TRIBUTARY_<FLAG>.
package main

import (
	"os"

	"github.com/tributary-dev/tributary/internal/cli"
)

func main() {
	os.Exit(cli.DriverMain(os.Args[1:]))
}
