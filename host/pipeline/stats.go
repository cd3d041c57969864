package pipeline

import "sync/atomic"

// Stats counts what one component did.
type Stats struct {
	In, Out, DeadLettered, Dropped, Retried, Restarts, Batches atomic.Int64
	// FusedInto names the process a filter shares with the filters around
	// it (set once at start); its restarts and retries count on the first.
	FusedInto string
}

// StatsSnapshot is a point-in-time copy, for status output and metrics.
type StatsSnapshot struct {
	Component    string `json:"component"`
	In           int64  `json:"in"`
	Out          int64  `json:"out"`
	DeadLettered int64  `json:"dead_lettered"`
	Dropped      int64  `json:"dropped"`
	Retried      int64  `json:"retried"`
	Restarts     int64  `json:"restarts"`
	Batches      int64  `json:"batches"`
	FusedInto    string `json:"fused_into,omitempty"`
}

func (s *Stats) snapshot(id string) StatsSnapshot {
	return StatsSnapshot{Component: id, In: s.In.Load(), Out: s.Out.Load(), DeadLettered: s.DeadLettered.Load(), Dropped: s.Dropped.Load(),
		Retried: s.Retried.Load(), Restarts: s.Restarts.Load(), Batches: s.Batches.Load(), FusedInto: s.FusedInto}
}
