package report

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Options choose what the report covers.
type Options struct {
	Title      string
	Since      time.Time // zero: everything
	Frameworks []string  // compliance frameworks to show retention for
	Now        time.Time
}

// frameworkRetention is each framework's retention in days, as the
// classifier filter applies it by default (plugins/filter/classifier README).
var frameworkRetention = map[string]int{"sox": 2555, "gdpr": 2190, "hipaa": 2190, "soc2": 365, "pci_dss": 365}

// KnownFramework reports whether name is a framework the report knows.
func KnownFramework(name string) bool { _, ok := frameworkRetention[name]; return ok }

// Model is everything the template shows.
type Model struct {
	Title       string
	Generated   string
	Store       string
	Since       string
	From, To    string
	Total       int
	Failures    int
	Threats     int
	Violations  int
	Skipped     int
	ByType      []Count
	Integrity   Integrity
	Charts      ChartData
	ViolationsT []Group
	ThreatsT    []Group
	Retention   []Retention
	Sessions    []Session
	MoreSess    int
}

// Count is one labelled number.
type Count struct {
	Name string
	N    int
}

// Group summarises events sharing a reason.
type Group struct {
	Reason   string
	Count    int
	Severity string // highest seen
	Clients  string
	Last     string
}

// Retention is one framework's retention status.
type Retention struct {
	Framework    string
	RequiredDays int
	Tagged       int
	MinDays      int
	Short        int // tagged events whose retention_days is below the requirement
	Oldest       string
	Status       string
	OK           bool
}

// Session summarises one session.
type Session struct {
	ID, Client, Server string
	First, Last        string
	Duration           string
	Events, Failures   int
	Tools              string
}

// ChartData is embedded as JSON for the inline chart code.
type ChartData struct {
	Buckets  []string      `json:"buckets"`
	Bucket   string        `json:"bucket"`
	ByType   []ChartSeries `json:"by_type"`
	Failures []ChartSeries `json:"failures"`
	Threats  []ChartSeries `json:"threats"`
}

// ChartSeries is one named series of counts per bucket.
type ChartSeries struct {
	Name   string `json:"name"`
	Values []int  `json:"values"`
}

var severityRank = map[string]int{"info": 0, "low": 1, "medium": 2, "warning": 2, "high": 3, "critical": 4}

// maxSessions caps the sessions table; the rest are counted.
const maxSessions = 50

// Build aggregates the dataset.
func Build(ds *Dataset, src string, opts Options) *Model {
	if opts.Now.IsZero() {
		opts.Now = time.Now().UTC()
	}
	m := &Model{Title: opts.Title, Generated: opts.Now.UTC().Format(time.RFC3339), Store: src, Integrity: ds.Integrity, Skipped: ds.Skipped}
	if m.Title == "" {
		m.Title = "MCP audit report"
	}
	m.Since = "all events"
	var evs []Event
	for _, e := range ds.Events {
		if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
			continue
		}
		evs = append(evs, e)
	}
	if !opts.Since.IsZero() {
		m.Since = "since " + opts.Since.UTC().Format(time.RFC3339)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	m.Total = len(evs)
	if len(evs) > 0 {
		m.From, m.To = evs[0].Time.Format(time.RFC3339), evs[len(evs)-1].Time.Format(time.RFC3339)
	}
	types := map[string]int{}
	for _, e := range evs {
		types[e.Type]++
		if failed(e) {
			m.Failures++
		}
		switch e.Type {
		case "mcp_security_threats":
			m.Threats++
		case "mcp_policy_violations":
			m.Violations++
		}
	}
	m.ByType = sortedCounts(types)
	m.Charts = charts(evs, m.ByType)
	m.ViolationsT = groups(evs, "mcp_policy_violations")
	m.ThreatsT = groups(evs, "mcp_security_threats")
	m.Retention = retention(evs, opts.Frameworks, opts.Now)
	m.Sessions, m.MoreSess = sessions(evs)
	return m
}

func failed(e Event) bool { return (e.Success != nil && !*e.Success) || e.Error != "" }

func sortedCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// bucketSizes are the time steps a chart may use; the smallest giving at
// most maxBuckets bars wins.
var bucketSizes = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

const maxBuckets = 60

func charts(evs []Event, byType []Count) ChartData {
	var cd ChartData
	if len(evs) == 0 {
		return cd
	}
	from, to := evs[0].Time, evs[len(evs)-1].Time
	size := bucketSizes[len(bucketSizes)-1]
	for _, s := range bucketSizes {
		if int(to.Truncate(s).Sub(from.Truncate(s))/s)+1 <= maxBuckets {
			size = s
			break
		}
	}
	start := from.Truncate(size)
	n := int(to.Truncate(size).Sub(start)/size) + 1
	if n > maxBuckets*8 {
		n = maxBuckets * 8 // a spread beyond weeks: the last buckets hold the tail
	}
	cd.Bucket = size.String()
	layout := "2006-01-02 15:04"
	if size >= 24*time.Hour {
		layout = "2006-01-02"
	}
	for i := 0; i < n; i++ {
		cd.Buckets = append(cd.Buckets, start.Add(time.Duration(i)*size).Format(layout))
	}
	idx := func(t time.Time) int {
		i := int(t.Truncate(size).Sub(start) / size)
		if i >= n {
			i = n - 1
		}
		if i < 0 {
			i = 0
		}
		return i
	}
	series := func(names []string) (map[string][]int, []ChartSeries) {
		m := map[string][]int{}
		out := make([]ChartSeries, 0, len(names))
		for _, name := range names {
			v := make([]int, n)
			m[name] = v
			out = append(out, ChartSeries{Name: name, Values: v})
		}
		return m, out
	}
	var typeNames []string
	for _, c := range byType {
		typeNames = append(typeNames, c.Name)
	}
	byT, typeSeries := series(typeNames)
	fails, failSeries := series([]string{"failed"})
	sevs, threatSeries := series([]string{"critical", "high", "medium", "low", "info"})
	for _, e := range evs {
		i := idx(e.Time)
		byT[e.Type][i]++
		if failed(e) {
			fails["failed"][i]++
		}
		if e.Type == "mcp_security_threats" {
			sev := strings.ToLower(e.Severity)
			if _, ok := sevs[sev]; !ok {
				sev = "medium" // warning and unrated threats count as medium
			}
			sevs[sev][i]++
		}
	}
	cd.ByType, cd.Failures = typeSeries, failSeries
	for _, s := range threatSeries {
		if sum(s.Values) > 0 {
			cd.Threats = append(cd.Threats, s)
		}
	}
	if len(cd.Threats) == 0 {
		cd.Threats = threatSeries[:1] // an empty series still draws the axes
	}
	return cd
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func groups(evs []Event, typ string) []Group {
	type acc struct {
		g       Group
		clients map[string]bool
		last    time.Time
	}
	by := map[string]*acc{}
	for _, e := range evs {
		if e.Type != typ {
			continue
		}
		reason := e.Reason
		if reason == "" {
			reason = "(no reason)"
		}
		a := by[reason]
		if a == nil {
			a = &acc{g: Group{Reason: reason, Severity: e.Severity}, clients: map[string]bool{}}
			by[reason] = a
		}
		a.g.Count++
		if severityRank[strings.ToLower(e.Severity)] > severityRank[strings.ToLower(a.g.Severity)] {
			a.g.Severity = e.Severity
		}
		if e.ClientID != "" {
			a.clients[e.ClientID] = true
		}
		if e.Time.After(a.last) {
			a.last = e.Time
		}
	}
	out := make([]Group, 0, len(by))
	for _, a := range by {
		var cs []string
		for c := range a.clients {
			cs = append(cs, c)
		}
		sort.Strings(cs)
		more := ""
		if len(cs) > 5 {
			cs, more = cs[:5], fmt.Sprintf(" (+%d)", len(cs)-5)
		}
		a.g.Clients = strings.Join(cs, ", ") + more
		a.g.Last = a.last.Format(time.RFC3339)
		out = append(out, a.g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

func retention(evs []Event, frameworks []string, now time.Time) []Retention {
	var out []Retention
	for _, fw := range frameworks {
		r := Retention{Framework: fw, RequiredDays: frameworkRetention[fw], MinDays: -1}
		var oldest time.Time
		for _, e := range evs {
			if !contains(e.Compliance, fw) {
				continue
			}
			r.Tagged++
			if r.MinDays < 0 || e.RetentionDays < r.MinDays {
				r.MinDays = e.RetentionDays
			}
			if e.RetentionDays < r.RequiredDays {
				r.Short++
			}
			if oldest.IsZero() || e.Time.Before(oldest) {
				oldest = e.Time
			}
		}
		switch {
		case r.Tagged == 0:
			r.Status = "no events tagged with this framework (is filter \"classifier\" configured with it?)"
		case r.Short > 0:
			r.Status = fmt.Sprintf("%d event(s) carry a retention below %d days", r.Short, r.RequiredDays)
		default:
			r.OK = true
			r.Status = fmt.Sprintf("every tagged event is kept at least %d days", r.RequiredDays)
		}
		if !oldest.IsZero() {
			r.Oldest = fmt.Sprintf("%s (%d days ago)", oldest.Format("2006-01-02"), int(now.Sub(oldest).Hours()/24))
		}
		if r.MinDays < 0 {
			r.MinDays = 0
		}
		out = append(out, r)
	}
	return out
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func sessions(evs []Event) ([]Session, int) {
	type acc struct {
		s           Session
		first, last time.Time
		tools       map[string]bool
	}
	by := map[string]*acc{}
	for _, e := range evs {
		if e.SessionID == "" {
			continue
		}
		a := by[e.SessionID]
		if a == nil {
			a = &acc{s: Session{ID: e.SessionID}, first: e.Time, tools: map[string]bool{}}
			by[e.SessionID] = a
		}
		a.s.Events++
		if failed(e) {
			a.s.Failures++
		}
		if a.s.Client == "" {
			a.s.Client = e.ClientID
		}
		if a.s.Server == "" {
			a.s.Server = e.Server
		}
		if e.ToolName != "" {
			a.tools[e.ToolName] = true
		}
		a.last = e.Time
	}
	out := make([]Session, 0, len(by))
	for _, a := range by {
		var ts []string
		for t := range a.tools {
			ts = append(ts, t)
		}
		sort.Strings(ts)
		if len(ts) > 8 {
			ts = append(ts[:8], fmt.Sprintf("+%d", len(ts)-8))
		}
		a.s.Tools = strings.Join(ts, ", ")
		a.s.First, a.s.Last = a.first.Format(time.RFC3339), a.last.Format(time.RFC3339)
		a.s.Duration = a.last.Sub(a.first).Round(time.Second).String()
		out = append(out, a.s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Events != out[j].Events {
			return out[i].Events > out[j].Events
		}
		return out[i].ID < out[j].ID
	})
	more := 0
	if len(out) > maxSessions {
		more = len(out) - maxSessions
		out = out[:maxSessions]
	}
	return out, more
}
