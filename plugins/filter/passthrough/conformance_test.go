package passthrough

import (
	"testing"

	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Definition, sdktest.Options{})
}
