package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/plugins/output/elasticsearch"
	"github.com/sentinel-audit/sentinel/sdk"
)

func init() {
	setup := &cobra.Command{
		Use:   "setup",
		Short: "Prepare a pipeline's destinations (index templates, lifecycle policies)",
	}
	var path string
	var dryRun bool
	es := &cobra.Command{
		Use:   "elasticsearch -c PIPELINE.hcl [--dry-run]",
		Short: "Install index templates and lifecycle for the pipeline's elasticsearch outputs",
		Long: `For every elasticsearch output of the pipeline, install one composable index
template per event type (ECS mappings) and the lifecycle that enforces its
retention: data stream lifecycle or ILM on Elasticsearch, ISM on OpenSearch.

Retention per event type comes from the output's retention_by_type, else from
the classifier that feeds the output (its frameworks decide: SOX keeps 7 years),
else from the output's retention. Running it again updates what it installed.`,
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
			n := 0
			for _, c := range cfg.Components {
				if c.Kind != sdk.KindOutput || c.Plugin != elasticsearch.Definition.Name {
					continue
				}
				n++
				retention, err := classifierRetention(cmd.Context(), cfg, c)
				if err != nil {
					return err
				}
				opts := elasticsearch.SetupOptions{RetentionDays: retention, DryRun: dryRun}
				if err := elasticsearch.Setup(cmd.Context(), c.Name, c.Config, opts, cmd.OutOrStdout()); err != nil {
					return err
				}
			}
			if n == 0 {
				return fmt.Errorf("%s has no elasticsearch output", path)
			}
			return nil
		},
	}
	es.Flags().StringVarP(&path, "config", "c", "", "pipeline file (HCL)")
	es.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be installed, send nothing")
	_ = es.MarkFlagRequired("config")
	setup.AddCommand(es)
	root.AddCommand(setup)
}

// classifierRetention asks the classifiers upstream of an output for their
// retention per event type (the longest wins when several feed it). The
// classifier computes it from its frameworks; we run it in process and ask
// get_status rather than re-implement its rules.
func classifierRetention(ctx context.Context, cfg *config.Config, out *config.Component) (map[string]int, error) {
	merged := map[string]int{}
	seen := map[string]bool{}
	var walk func(ids []string) error
	walk = func(ids []string) error {
		for _, id := range ids {
			c := cfg.Component(id)
			if c == nil || seen[id] {
				continue
			}
			seen[id] = true
			if c.Kind == sdk.KindFilter && c.Plugin == "classifier" && c.Def != nil {
				days, err := askRetention(ctx, c)
				if err != nil {
					return err
				}
				for t, d := range days {
					merged[t] = max(merged[t], d)
				}
			}
			if err := walk(c.Inputs); err != nil {
				return err
			}
		}
		return nil
	}
	return merged, walk(out.Inputs)
}

func askRetention(ctx context.Context, c *config.Component) (map[string]int, error) {
	dir, err := os.MkdirTemp("", "sentinel-setup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	conn := sdk.LocalConn(c.Def, hclog.NewNullLogger())
	defer conn.Close(ctx)
	if err := conn.Configure(ctx, c.Name, dir, c.Config, false); err != nil {
		return nil, fmt.Errorf("%s: %w", c.ID(), err)
	}
	raw, err := conn.Invoke(ctx, sdk.OpGetStatus, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: get_status: %w", c.ID(), err)
	}
	var st struct {
		RetentionByType map[string]int `json:"retention_by_type"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%s: get_status: %w", c.ID(), err)
	}
	return st.RetentionByType, nil
}
