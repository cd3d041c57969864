package anomaly_detector

import (
	"time"
)

// volume watches telemetry volume per source (the tap's endpoint or server)
// on the host's clock: events arriving, not event timestamps, are what a
// silenced tap stops. The host's idle ticks (Definition.Tick) keep it
// running when no events come at all.
type volume struct {
	cfg     *Config
	sources *lru[*source]
}

type source struct {
	server       string
	endpoint     string
	seen         int // events ever seen
	lastSeen     time.Time
	lastID       string
	quietAlerted bool
	bucketStart  time.Time
	count        int
	ewma         float64
	minutes      int
	dropAlerted  bool
}

// maxSources caps the sources watched; taps are few, servers a handful each.
const maxSources = 1024

func newVolume(cfg *Config) *volume {
	return &volume{cfg: cfg, sources: newLRU(maxSources, func() *source { return &source{} })}
}

func sourceKey(e *event) string {
	switch {
	case e.MCPEndpoint != "":
		return e.MCPEndpoint
	case e.Server != "":
		return e.Server
	}
	return "default"
}

// seen counts one arriving event for its source.
func (v *volume) seen(e *event, now time.Time, raise func(*threat)) {
	s := v.sources.get(sourceKey(e))
	v.roll(sourceKey(e), s, now, raise)
	s.seen++
	s.count++
	s.lastSeen, s.lastID, s.quietAlerted = now, e.id, false
	s.server, s.endpoint = e.Server, e.MCPEndpoint
}

// check runs on every batch, empty ticks included: closes minutes and raises
// silence for sources that were live and went quiet.
func (v *volume) check(now time.Time, raise func(*threat)) {
	quiet := v.cfg.QuietAfter.Std()
	v.sources.each(func(key string, s *source) {
		v.roll(key, s, now, raise)
		if s.quietAlerted || s.seen < v.cfg.VolumeMinRate || now.Sub(s.lastSeen) < quiet {
			return
		}
		s.quietAlerted = true
		ev := evidence{Count: 0, Window: quiet.String(), Key: "source:" + key, Total: s.seen, Baseline: s.ewma}
		ev.span(mark{id: s.lastID, at: s.lastSeen}, mark{id: s.lastID, at: s.lastSeen})
		raise(&threat{reason: "telemetry_silence", category: "defense_evasion", owasp: "MCP08", severity: "high",
			confidence: 0.7, src: s.identity(), at: now, evidence: ev,
			details: map[string]any{"quiet_for": now.Sub(s.lastSeen).Round(time.Second).String()}})
	})
}

// roll closes completed minutes; a minute with events but far fewer than the
// baseline is a volume drop (an empty one is left to the silence check).
func (v *volume) roll(key string, s *source, now time.Time, raise func(*threat)) {
	minute := now.Truncate(time.Minute)
	if s.bucketStart.IsZero() {
		s.bucketStart = minute
		return
	}
	const alpha = 0.3
	for i := 0; minute.After(s.bucketStart) && i < 60; i++ {
		n := s.count
		base := s.ewma
		if s.minutes >= v.cfg.BaselineMinutes && base >= float64(v.cfg.VolumeMinRate) && n > 0 {
			if float64(n) < v.cfg.VolumeDropRatio*base {
				if !s.dropAlerted {
					s.dropAlerted = true
					ev := evidence{Count: n, Threshold: v.cfg.VolumeDropRatio * base, Window: time.Minute.String(),
						Key: "source:" + key, Baseline: base, Rate: float64(n) / base}
					ev.span(mark{}, mark{id: s.lastID, at: s.lastSeen})
					raise(&threat{reason: "telemetry_volume_drop", category: "defense_evasion", owasp: "MCP08",
						severity: "medium", confidence: 0.6, src: s.identity(), at: s.bucketStart.Add(time.Minute), evidence: ev})
				}
			} else {
				s.dropAlerted = false
			}
		}
		if s.minutes == 0 {
			s.ewma = float64(n)
		} else if n > 0 || s.quietAlerted {
			s.ewma = alpha*float64(n) + (1-alpha)*s.ewma
		}
		// empty minutes before silence is declared leave the baseline alone, so
		// that a tap going quiet is judged against its live rate
		s.minutes++
		s.count = 0
		s.bucketStart = s.bucketStart.Add(time.Minute)
	}
	if minute.After(s.bucketStart) {
		s.bucketStart = minute
	}
}

func (s *source) identity() *event { return &event{Server: s.server, MCPEndpoint: s.endpoint} }
