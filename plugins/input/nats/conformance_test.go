package nats

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/output/nats/natsconn/natstest"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	srv := natstest.Start(t)
	publish(t, srv.URL(), "ev", 3)
	sdktest.Conformance(t, Definition, sdktest.Options{
		Config: json.RawMessage(fmt.Sprintf(`{"url":%q,"stream":%q,"max_wait":"100ms"}`, srv.URL(), stream)),
	})
}
