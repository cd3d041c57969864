package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() {
	var path string
	cmd := &cobra.Command{
		Use:   "validate -c PIPELINE.hcl",
		Short: "Check a pipeline without running it",
		Long: `Check a pipeline: syntax, unknown plugins, unknown references, cycles, missing
required arguments, wrong types and unknown arguments (against each plugin's own
schema), and each plugin's own validation. Every problem is reported with its
file:line:column and a hint. Exit status 1 when there is an error.`,
		Example: `  sentinel validate -c config.hcl.example`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := newLogger("warn")
			cat, err := newCatalog(logger)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(path, cat, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d components", path, len(cfg.Components))
			if len(cfg.Bypassed) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; disabled or bypassed: %v", cfg.Bypassed)
			}
			fmt.Fprintln(cmd.OutOrStdout(), ")")
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "pipeline file (HCL)")
	_ = cmd.MarkFlagRequired("config")
	root.AddCommand(cmd)
}
