package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/plugins/builtin"
	"github.com/sentinel-audit/sentinel/sdk"
)

func init() {
	plugin := &cobra.Command{Use: "plugin", Hidden: true, Short: "Plugin process entry points (used by the host)"}
	plugin.AddCommand(&cobra.Command{
		Use:   "serve NAME [KIND]",
		Short: "Serve a bundled plugin over go-plugin; the host runs this, not people",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			if names := strings.Split(args[0], sdk.FuseSeparator); len(names) > 1 {
				kind := sdk.KindFilter
				if len(args) == 2 {
					kind = sdk.Kind(args[1])
				}
				return serveFused(names, kind)
			}
			for _, d := range builtin.All() {
				if d.Name == args[0] && (len(args) == 1 || string(d.Kind) == args[1]) {
					sdk.Serve(d)
					return nil
				}
			}
			return fmt.Errorf("no bundled plugin %q (see `sentinel plugins list`)", strings.Join(args, " "))
		},
	})
	root.AddCommand(plugin)
}

// serveFused serves bundled filters chained in one process (sdk.Fuse); for
// kind output, the last name is the output they feed.
func serveFused(names []string, kind sdk.Kind) error {
	defs := make([]*sdk.Definition, len(names))
	for i, n := range names {
		want := sdk.KindFilter
		if i == len(names)-1 {
			want = kind
		}
		for _, d := range builtin.All() {
			if d.Name == n && d.Kind == want {
				defs[i] = d
			}
		}
		if defs[i] == nil {
			return fmt.Errorf("no bundled %s %q (see `sentinel plugins list`)", want, n)
		}
	}
	def, err := sdk.Fuse(defs...)
	if err != nil {
		return err
	}
	sdk.Serve(def)
	return nil
}
