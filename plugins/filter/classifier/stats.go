package classifier

// stats are the counters get_status and get_audit_summary report. Every
// event bumps several, so they are plain counters rather than map entries:
// per policy for the types configuration knows, arrays for classifications
// and frameworks, and maps only for custom types no configuration names.
// Invoke builds the maps it answers with.
type stats struct {
	byClass                         [levelRestricted + 1]uint64
	byFramework                     [len(frameworkIDs)]uint64 // in frameworkIDs order
	customProcessed, customFiltered map[string]uint64         // types outside c.types, by name
	rejected, alerts                uint64
}

// typeCounts are one policy's counters.
type typeCounts struct{ processed, filtered uint64 }

func newStats() stats {
	return stats{customProcessed: map[string]uint64{}, customFiltered: map[string]uint64{}}
}

// countFiltered counts an event the audit level drops.
func (c *Classifier) countFiltered(v *verdict) {
	if v.pol == c.customPolicy {
		c.stats.customFiltered[v.typ]++
	} else {
		v.pol.counts.filtered++
	}
}

// countProcessed counts an event that passes.
func (c *Classifier) countProcessed(v *verdict) {
	if v.pol == c.customPolicy {
		c.stats.customProcessed[v.typ]++
	} else {
		v.pol.counts.processed++
	}
	c.stats.byClass[v.level]++
	for i := range frameworkIDs {
		if v.compliance.set&(1<<i) != 0 {
			c.stats.byFramework[i]++
		}
	}
}

// byType is the processed (or filtered) count of every type that has one.
func (c *Classifier) byType(filtered bool) map[string]uint64 {
	out, custom := map[string]uint64{}, c.stats.customProcessed
	if filtered {
		custom = c.stats.customFiltered
	}
	for name, p := range c.types {
		n := p.counts.processed
		if filtered {
			n = p.counts.filtered
		}
		if n > 0 {
			out[name] = n
		}
	}
	for name, n := range custom {
		out[name] = n
	}
	return out
}

// byClassName and byFrameworkID name the counts that are not zero.
func (s *stats) byClassName() map[string]uint64 { return nonZero(levelNames, s.byClass[:]) }

func (s *stats) byFrameworkID() map[string]uint64 { return nonZero(frameworkIDs[:], s.byFramework[:]) }

func nonZero(names []string, counts []uint64) map[string]uint64 {
	out := map[string]uint64{}
	for i, n := range counts {
		if n > 0 {
			out[names[i]] = n
		}
	}
	return out
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
