package splunk_hec

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	srv := httptest.NewServer(newFakeHEC(token))
	defer srv.Close()
	raw, _ := json.Marshal(map[string]any{"endpoint": srv.URL, "token": token})
	sdktest.Conformance(t, Definition, sdktest.Options{Config: raw})
}
