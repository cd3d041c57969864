package cli

import (
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
			var kind sdk.Kind
			if len(args) == 2 {
				kind = sdk.Kind(args[1])
			}
			def, err := builtin.Definition(args[0], kind)
			if err != nil {
				return err
			}
			sdk.Serve(def)
			return nil
		},
	})
	root.AddCommand(plugin)
}
