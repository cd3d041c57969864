package sdk

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONStringMatchesMarshal(t *testing.T) {
	for _, s := range []string{"", "01JBENCH000000000000000001", "tools/call", `say "hi"`, `a\b`,
		"<script>&", "tab\there", "\x00\x1f", "héllo", "\u2028", "\xff\xfe"} {
		want, _ := json.Marshal(s)
		if got := AppendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendJSONString(%q) = %s, want x%s", s, got, want)
		}
	}
}
