package builtin

import (
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

// A plugin process is asked for one bundled plugin, or for a fused chain
// whose last member has the kind asked for.
func TestDefinitionServesBundledAndFusedPlugins(t *testing.T) {
	if d, err := Definition("file", sdk.KindOutput); err != nil || d.Name != "file" || d.Kind != sdk.KindOutput {
		t.Fatalf("file output: %v, %v", d, err)
	}
	d, err := Definition("pii_tokenizer"+sdk.FuseSeparator+"signer"+sdk.FuseSeparator+"file", sdk.KindOutput)
	if err != nil || d.Kind != sdk.KindOutput {
		t.Fatalf("fused chain ending in the file output: %v, %v", d, err)
	}
	if d, err := Definition("pii_tokenizer"+sdk.FuseSeparator+"signer", ""); err != nil || d.Kind != sdk.KindFilter {
		t.Fatalf("fused filters: %v, %v", d, err)
	}
	for _, bad := range []struct {
		name string
		kind sdk.Kind
		want string
	}{
		{"nope", "", `no bundled plugin "nope"`},
		{"file", sdk.KindFilter, `no bundled plugin "file filter"`},
		{"file" + sdk.FuseSeparator + "signer", "", `no bundled filter "file"`},
	} {
		if _, err := Definition(bad.name, bad.kind); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Definition(%q, %q): %v, want an error with %q", bad.name, bad.kind, err, bad.want)
		}
	}
}
