package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/host/pipeline"
	"github.com/sentinel-audit/sentinel/sdk"
)

func init() {
	var path string
	var dot bool
	cmd := &cobra.Command{
		Use:   "graph -c PIPELINE.hcl [--dot]",
		Short: "Print a pipeline's graph as text or Graphviz DOT",
		Long: `Print the pipeline's DAG. As text, each component is listed with what it reads
from and what reads from it, then the filters that will share one process
(fuse_filters). With --dot, the graph is Graphviz DOT, shared processes drawn
as clusters:
  sentinel graph -c pipeline.hcl --dot | dot -Tsvg > pipeline.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := newCatalog(newLogger("warn"))
			if err != nil {
				return err
			}
			cfg, err := loadConfig(path, cat, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var fused [][]*config.Component
			if cfg.FuseFilters {
				fused = pipeline.FusedChains(cfg, func(c *config.Component) bool { return cat.CanFuse(c, cfg) })
			}
			if dot {
				writeDOT(cmd.OutOrStdout(), cfg, fused)
			} else {
				writeGraphText(cmd.OutOrStdout(), cfg, fused)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "pipeline file (HCL)")
	cmd.Flags().BoolVar(&dot, "dot", false, "print Graphviz DOT instead of text")
	_ = cmd.MarkFlagRequired("config")
	root.AddCommand(cmd)
}

func consumers(cfg *config.Config, id string) []string {
	var out []string
	for _, c := range cfg.Components {
		for _, in := range c.Inputs {
			if in == id {
				out = append(out, c.ID())
			}
		}
	}
	return out
}

func writeGraphText(w io.Writer, cfg *config.Config, fused [][]*config.Component) {
	for _, kind := range []sdk.Kind{sdk.KindInput, sdk.KindFilter, sdk.KindOutput} {
		for _, c := range cfg.Components {
			if c.Kind != kind {
				continue
			}
			fmt.Fprintf(w, "%s\n", c.ID())
			if len(c.Inputs) > 0 {
				fmt.Fprintf(w, "  <- %s\n", strings.Join(c.Inputs, ", "))
			}
			if out := consumers(cfg, c.ID()); len(out) > 0 {
				fmt.Fprintf(w, "  -> %s\n", strings.Join(out, ", "))
			}
		}
	}
	for _, chain := range fused {
		ids := make([]string, len(chain))
		for i, c := range chain {
			ids[i] = c.ID()
		}
		fmt.Fprintf(w, "(one process: %s)\n", strings.Join(ids, " -> "))
	}
	for _, b := range cfg.Bypassed {
		fmt.Fprintf(w, "(disabled or bypassed: %s)\n", b)
	}
}

func writeDOT(w io.Writer, cfg *config.Config, fused [][]*config.Component) {
	shapes := map[sdk.Kind]string{sdk.KindInput: "invhouse", sdk.KindFilter: "box", sdk.KindOutput: "house"}
	fmt.Fprintln(w, "digraph sentinel {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];")
	for i, chain := range fused {
		fmt.Fprintf(w, "  subgraph cluster_process_%d {\n    label=\"one process\";\n    style=dashed;\n", i)
		for _, c := range chain {
			fmt.Fprintf(w, "    %q;\n", c.ID())
		}
		fmt.Fprintln(w, "  }")
	}
	for _, c := range cfg.Components {
		fmt.Fprintf(w, "  %q [shape=%s, label=%q];\n", c.ID(), shapes[c.Kind], c.Plugin+"\n"+c.Name)
	}
	for _, c := range cfg.Components {
		for _, in := range c.Inputs {
			fmt.Fprintf(w, "  %q -> %q;\n", in, c.ID())
		}
	}
	fmt.Fprintln(w, "}")
}
