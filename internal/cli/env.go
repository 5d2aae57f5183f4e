package cli

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// BindEnv makes every flag of fs default to the environment variable
// TRIBUTARY_<FLAG> (dashes become underscores), so that pods configure the
// processes through env as well as args; an explicit flag wins. The help
// text names the variable.
func BindEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		name := "TRIBUTARY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		f.Usage += " [$" + name + "]"
		if v, ok := os.LookupEnv(name); ok && err == nil {
			err = f.Value.Set(v)
			f.DefValue = f.Value.String()
		}
	})
	return err
}
