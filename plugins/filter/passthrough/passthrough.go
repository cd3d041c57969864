// Package passthrough is the "passthrough" filter: it returns its input
// unchanged. Benchmarks use it to measure one out-of-process hop, and it is
// the smallest complete example of a filter.
package passthrough

import (
	"context"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition is the passthrough filter plugin.
var Definition = &sdk.Definition{
	Name:    "passthrough",
	Kind:    sdk.KindFilter,
	Version: "0.1.0",
	Summary: "Passes every record on unchanged.",
	Description: "Does nothing to the records: use it to measure the cost of one plugin hop, or as the " +
		"starting point of a new filter.",
	New: func() sdk.Plugin { return Filter{} },
}

// Filter is the passthrough filter; it has no state.
type Filter struct{}

// Process returns the request batch's records as they are.
func (Filter) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	return &sdk.Batch{Seq: in.Seq, Records: in.Records}, nil
}

var _ sdk.Plugin = Filter{}
