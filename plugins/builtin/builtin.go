// Package builtin lists the plugins bundled in the sentinel binary. Each is
// still served in its own process (`sentinel plugin serve NAME`).
package builtin

import (
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
