// Package builtin lists the plugins bundled in the sentinel binary. Each is
// still served in its own process (`sentinel plugin serve NAME`).
package builtin

import (
	"fmt"
	"strings"

	"github.com/sentinel-audit/sentinel/plugins/filter/anomaly_detector"
	"github.com/sentinel-audit/sentinel/plugins/filter/classifier"
	"github.com/sentinel-audit/sentinel/plugins/filter/encryptor"
	"github.com/sentinel-audit/sentinel/plugins/filter/passthrough"
	pii_tokenizer "github.com/sentinel-audit/sentinel/plugins/filter/pii_tokenizer"
	"github.com/sentinel-audit/sentinel/plugins/filter/signer"
	"github.com/sentinel-audit/sentinel/plugins/input/http"
	"github.com/sentinel-audit/sentinel/plugins/input/jsonl"
	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap"
	natsin "github.com/sentinel-audit/sentinel/plugins/input/nats"
	"github.com/sentinel-audit/sentinel/plugins/output/chronicle"
	"github.com/sentinel-audit/sentinel/plugins/output/elasticsearch"
	"github.com/sentinel-audit/sentinel/plugins/output/file"
	"github.com/sentinel-audit/sentinel/plugins/output/microsoft_sentinel"
	natsout "github.com/sentinel-audit/sentinel/plugins/output/nats"
	"github.com/sentinel-audit/sentinel/plugins/output/otlp"
	"github.com/sentinel-audit/sentinel/plugins/output/splunk_hec"
	"github.com/sentinel-audit/sentinel/plugins/output/stdout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// All returns the bundled plugins' definitions.
func All() []*sdk.Definition {
	return []*sdk.Definition{
		jsonl.Definition,
		http.Definition,
		mcp_tap.Definition,
		natsin.Definition,
		passthrough.Definition,
		pii_tokenizer.Definition,
		classifier.Definition,
		encryptor.Definition,
		anomaly_detector.Definition,
		signer.Definition,
		file.Definition,
		stdout.Definition,
		splunk_hec.Definition,
		elasticsearch.Definition,
		microsoft_sentinel.Definition,
		chronicle.Definition,
		natsout.Definition,
		otlp.Definition,
	}
}

// Definition finds the bundled plugin a host asks a plugin process to
// serve: name with its kind (empty: any kind), or bundled filters joined by
// sdk.FuseSeparator, chained in one process (sdk.Fuse); for kind output, the
// last name is the output they feed.
func Definition(name string, kind sdk.Kind) (*sdk.Definition, error) {
	names := strings.Split(name, sdk.FuseSeparator)
	if len(names) == 1 {
		for _, d := range All() {
			if d.Name == name && (kind == "" || d.Kind == kind) {
				return d, nil
			}
		}
		return nil, fmt.Errorf("no bundled plugin %q (see `sentinel plugins list`)", strings.TrimSpace(name+" "+string(kind)))
	}
	if kind == "" {
		kind = sdk.KindFilter
	}
	defs := make([]*sdk.Definition, len(names))
	for i, n := range names {
		want := sdk.KindFilter
		if i == len(names)-1 {
			want = kind
		}
		for _, d := range All() {
			if d.Name == n && d.Kind == want {
				defs[i] = d
			}
		}
		if defs[i] == nil {
			return nil, fmt.Errorf("no bundled %s %q (see `sentinel plugins list`)", want, n)
		}
	}
	return sdk.Fuse(defs...)
}
