package scaleout

import (
	"os"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/host/catalog"
	"github.com/sentinel-audit/sentinel/host/config"
	"github.com/sentinel-audit/sentinel/plugins/builtin"
	natsin "github.com/sentinel-audit/sentinel/plugins/input/nats"
	natsout "github.com/sentinel-audit/sentinel/plugins/output/nats"
	"github.com/sentinel-audit/sentinel/sdk"
)

// TestExampleConfigsAreValid loads each example with the bundled plugins
// plus the nats plugin of the kind it uses (an edge publishes, a pool host
// consumes), so every reference and argument is checked as `sentinel
// validate` would.
func TestExampleConfigsAreValid(t *testing.T) {
	t.Setenv("SPLUNK_HEC_TOKEN", "example-token")
	t.Setenv("ES_API_KEY", "example-key")
	for file, nats := range map[string]*sdk.Definition{"edge.hcl": natsout.Definition, "pool.hcl": natsin.Definition} {
		t.Run(file, func(t *testing.T) {
			var defs []*sdk.Definition
			for _, d := range builtin.All() {
				if d.Name != nats.Name {
					defs = append(defs, d)
				}
			}
			cat, err := catalog.New(append(defs, nats), hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, diags := config.LoadSource(file, src, cat); diags.HasErrors() {
				t.Fatalf("%s: %s", file, diags.Error())
			}
		})
	}
}
