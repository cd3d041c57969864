package piitokenizer

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

const testKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// newTestTokenizer configures a tokenizer with the test key and extra arguments.
func newTestTokenizer(t testing.TB, args map[string]any) *Tokenizer {
	t.Helper()
	cfg := map[string]any{"key": testKey}
	for k, v := range args {
		cfg[k] = v
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tk := &Tokenizer{}
	if err := tk.Configure(context.Background(), sdk.Config{Name: "test", Raw: raw, DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	return tk
}
