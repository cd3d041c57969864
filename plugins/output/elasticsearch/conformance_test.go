package elasticsearch

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	srv := httptest.NewServer(newFakeES(""))
	defer srv.Close()
	raw, _ := json.Marshal(map[string]any{"endpoints": []string{srv.URL}})
	sdktest.Conformance(t, Definition, sdktest.Options{Config: raw})
}
