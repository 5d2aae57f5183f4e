// Command manager runs the process of that role; see cli.ManagerMain. The
// image runs the same code as `tributary manager`. Every flag can also be
// set as TRIBUTARY_<FLAG>.
package main

import (
	"os"

	"github.com/tributary-dev/tributary/internal/cli"
)

func main() {
	os.Exit(cli.ManagerMain(os.Args[1:]))
}
