package classifier

import (
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Classifying an event allocates its rewritten body and nothing else:
// parsing, classification, counting and the attributes it sets work in
// place or in reused scratch.
func TestClassifyAllocatesOnlyTheBody(t *testing.T) {
	c := newClassifier(t, `{"audit_level":"enterprise","frameworks":["sox","gdpr"]}`)
	for _, body := range []string{
		`{"event_id":"01JD3X7Q8M0000000000000002","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution",` +
			`"severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","user_id":"u-7",` +
			`"server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md",` +
			`"contact":"tok_email_k7q2m4zpx3a9bd2e"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent.",` +
			`"duration_ms":12,"success":true,"pii":{"email":1}}`,
		`{"event_type":"mcp_resource_access","uri":"file:///srv/a","resource_type":"file","dropped":[1,2,3],` +
			`"error":{"code":-32002,"message":"resource not found: file:///srv/a"},"pii":{"ip_address":2,"github_token":1}}`,
		`{ "event_type" : "mcp_prompt_request" , "severity" : "low" , "classification" : "SECRET" }`,
	} {
		in := []byte(body)
		r := &sdk.Record{Body: in, Attributes: map[string]string{"pii.email": "1"}}
		allocs := testing.AllocsPerRun(100, func() {
			r.Body = in
			if _, drop, reason := c.classify(r); drop || reason != "" {
				t.Fatalf("dropped %v, rejected %q", drop, reason)
			}
		})
		if allocs != 1 {
			t.Errorf("%d allocations per event, want 1 (the body): %s", int(allocs), body)
		}
	}
}
