package report

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
)

func verifiedSource(t *testing.T, dir, keys string) Source {
	t.Helper()
	seed, err := integrity.LoadSeed(keys)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := integrity.LoadVerifier(keys)
	if err != nil {
		t.Fatal(err)
	}
	return Source{Path: dir, Seed: seed, Pub: pub}
}

func TestVerifiedStoreReport(t *testing.T) {
	evs := sampleEvents()
	dir, keys := signedStore(t, evs)
	ds, err := Load(verifiedSource(t, dir, keys))
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Integrity.Checked || !ds.Integrity.Intact || len(ds.Events) != len(evs) || ds.Integrity.Events != uint64(len(evs)) {
		t.Fatalf("integrity %+v, %d events of %d", ds.Integrity, len(ds.Events), len(evs))
	}
	m := Build(ds, dir, Options{Frameworks: []string{"sox", "gdpr", "hipaa"}, Now: base.Add(48 * time.Hour)})
	if m.Total != len(evs) || m.Threats != 2 || m.Violations != 2 || m.Failures != 5+4 {
		t.Fatalf("totals: %d events, %d threats, %d violations, %d failures", m.Total, m.Threats, m.Violations, m.Failures)
	}
	if m.ByType[0] != (Count{"mcp_tool_execution", 30}) {
		t.Errorf("by type %v", m.ByType)
	}
	if len(m.ThreatsT) != 2 || m.ThreatsT[0].Severity == "" || m.ViolationsT[0].Count != 1 {
		t.Errorf("groups %+v %+v", m.ThreatsT, m.ViolationsT)
	}
	ret := map[string]Retention{}
	for _, r := range m.Retention {
		ret[r.Framework] = r
	}
	if r := ret["sox"]; !r.OK || r.Tagged != 30 || r.RequiredDays != 2555 {
		t.Errorf("sox %+v", r)
	}
	if r := ret["gdpr"]; r.OK || r.Short != 4 || r.MinDays != 365 {
		t.Errorf("gdpr: 365-day events under a 2190-day requirement must show: %+v", r)
	}
	if r := ret["hipaa"]; r.OK || r.Tagged != 0 {
		t.Errorf("hipaa %+v", r)
	}
	if len(m.Sessions) != 4 || m.Sessions[0].Events != 10 || m.Sessions[0].Tools == "" {
		t.Errorf("sessions %+v", m.Sessions)
	}
	var sum int
	for _, s := range m.Charts.ByType {
		for _, v := range s.Values {
			sum += v
		}
	}
	if sum != len(evs) || len(m.Charts.Buckets) == 0 || len(m.Charts.Buckets) > maxBuckets {
		t.Errorf("chart holds %d events in %d buckets", sum, len(m.Charts.Buckets))
	}
}

func TestSinceLimitsThePeriod(t *testing.T) {
	evs := sampleEvents()
	dir, _ := signedStore(t, evs)
	ds, err := Load(Source{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Integrity.Checked || len(ds.Events) != len(evs) {
		t.Fatalf("unverified read: %+v, %d events", ds.Integrity, len(ds.Events))
	}
	m := Build(ds, dir, Options{Since: base.Add(4 * time.Hour)})
	if m.Total != 22 || m.Threats != 2 { // 18 tool calls from 4h on, 2 violations, 2 threats
		t.Fatalf("since 4h: %d events, %d threats", m.Total, m.Threats)
	}
}

func TestTamperedStoreIsReported(t *testing.T) {
	dir, keys := signedStore(t, sampleEvents())
	seg := store.SegmentPath(dir, 1)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(b, []byte(`"tool_denied"`), []byte(`"tool_allowd"`), 1)
	if bytes.Equal(changed, b) {
		t.Fatal("fixture lacks the text to alter")
	}
	_ = os.Chmod(seg, 0o640)
	if err := os.WriteFile(seg, changed, 0o640); err != nil {
		t.Fatal(err)
	}
	ds, err := Load(verifiedSource(t, dir, keys))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Integrity.Intact || len(ds.Integrity.Findings) == 0 || !strings.Contains(ds.Integrity.Findings[0], "modified") {
		t.Fatalf("tampering not reported: %+v", ds.Integrity)
	}
	var out bytes.Buffer
	if err := Render(&out, Build(ds, dir, Options{})); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ALTERED") || !strings.Contains(out.String(), ds.Integrity.Findings[0][:20]) {
		t.Fatal("the page does not show the alteration")
	}
}

// The report is one file that loads nothing: no src, no links, no imports.
func TestRenderIsSelfContained(t *testing.T) {
	evs := sampleEvents()
	evs[0]["client_id"] = `<script src="https://evil.example/x.js"></script>`
	dir, _ := signedStore(t, evs)
	ds, err := Load(Source{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Render(&out, Build(ds, dir, Options{Frameworks: []string{"sox"}})); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, re := range []string{`(?i)<[^>]*\ssrc\s*=`, `(?i)<link`, `(?i)href\s*=\s*"(https?:)?//`, `(?i)url\(`, `(?i)@import`, `(?i)fetch\(`, `XMLHttpRequest`, `(?i)<iframe`} {
		if regexp.MustCompile(re).MatchString(html) {
			t.Errorf("report references something outside itself: %s", re)
		}
	}
	if strings.Contains(html, `<script src=`) || !strings.Contains(html, `&lt;script src=`) {
		t.Error("event text was not escaped")
	}
	if !strings.Contains(html, `id="report-data"`) || !strings.Contains(html, `"by_type"`) {
		t.Error("chart data missing")
	}
}

// With only the public key, the checkpoints and the Merkle tree are checked:
// anyone can verify the store the report describes.
func TestPublicKeyVerification(t *testing.T) {
	evs := sampleEvents()
	dir, keys := signedStore(t, evs)
	pub, err := integrity.LoadVerifier(keys)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Load(Source{Path: dir, Pub: pub})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Integrity.Checked || !ds.Integrity.Intact || !strings.HasPrefix(ds.Integrity.Mode, "public key") ||
		ds.Integrity.Checkpoints == 0 || len(ds.Events) != len(evs) {
		t.Fatalf("public-key verification: %+v, %d events", ds.Integrity, len(ds.Events))
	}
}
