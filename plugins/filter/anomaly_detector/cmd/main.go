// Command anomaly_detector serves the anomaly_detector filter plugin out of process.
package main

import (
	"github.com/sentinel-audit/sentinel/plugins/filter/anomaly_detector"
	"github.com/sentinel-audit/sentinel/sdk"
)

func main() { sdk.Serve(anomaly_detector.Definition) }
