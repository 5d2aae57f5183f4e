// Command executor runs the process of that role; see cli.ExecutorMain. The
// image runs the same code as `tributary executor`. Every flag can also be
// set as TRIBUTARY_<FLAG>.
package main

import (
	"os"

	"github.com/tributary-dev/tributary/internal/cli"
)

func main() {
	os.Exit(cli.ExecutorMain(os.Args[1:]))
}
