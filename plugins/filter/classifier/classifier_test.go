package classifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Definition, sdktest.Options{})
}

func newClassifier(t *testing.T, cfg string) *Classifier {
	t.Helper()
	c := &Classifier{}
	if err := c.Configure(context.Background(), sdk.Config{Name: "test", Raw: json.RawMessage(cfg)}); err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, c *Classifier, bodies ...string) *sdk.Batch {
	t.Helper()
	in := &sdk.Batch{}
	for _, b := range bodies {
		r, err := sdk.NewRecord([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		in.Records = append(in.Records, r)
	}
	out, err := c.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type fields struct {
	EventType      string   `json:"event_type"`
	Severity       string   `json:"severity"`
	Classification string   `json:"classification"`
	Compliance     []string `json:"compliance"`
	RetentionDays  int      `json:"retention_days"`
	Index          string   `json:"index"`
}

func one(t *testing.T, c *Classifier, body string) (fields, *sdk.Record) {
	t.Helper()
	out := run(t, c, body)
	if len(out.Records) == 0 {
		t.Fatalf("no record out; rejected %+v", out.Rejected)
	}
	var f fields
	if err := json.Unmarshal(out.Records[0].Body, &f); err != nil {
		t.Fatal(err)
	}
	return f, out.Records[0]
}

func TestRules(t *testing.T) {
	cases := []struct {
		name, cfg, body string
		want            fields
	}{
		{"tool defaults", `{}`, `{"event_type":"mcp_tool_execution","tool_name":"read"}`,
			fields{"mcp_tool_execution", "info", "INTERNAL", []string{}, 90, "mcp-tools"}},
		{"type from method", `{}`, `{"method":"resources/read","uri":"file:///a"}`,
			fields{"mcp_resource_access", "info", "INTERNAL", []string{}, 365, "mcp-resources"}},
		{"failure raises severity", `{}`, `{"event_type":"mcp_tool_execution","success":false}`,
			fields{"mcp_tool_execution", "warning", "INTERNAL", []string{}, 90, "mcp-tools"}},
		{"severity normalized", `{}`, `{"event_type":"mcp_tool_execution","severity":"WARN"}`,
			fields{"mcp_tool_execution", "warning", "INTERNAL", []string{}, 90, "mcp-tools"}},
		{"auth is restricted", `{}`, `{"event_type":"mcp_authentication_events","success":true}`,
			fields{"mcp_authentication_events", "info", "RESTRICTED", []string{}, 730, "mcp-auth"}},
		{"violation seed", `{}`, `{"event_type":"mcp_policy_violations"}`,
			fields{"mcp_policy_violations", "high", "CONFIDENTIAL", []string{}, 2555, "mcp-violations"}},
		{"pii email confidential", `{}`, `{"event_type":"mcp_tool_execution","pii":{"email":1}}`,
			fields{"mcp_tool_execution", "info", "CONFIDENTIAL", []string{}, 90, "mcp-tools"}},
		{"pii secret", `{}`, `{"event_type":"mcp_tool_execution","pii":{"email":1,"github_token":1}}`,
			fields{"mcp_tool_execution", "info", "SECRET", []string{}, 90, "mcp-tools"}},
		{"pii ssn restricted", `{}`, `{"event_type":"mcp_tool_execution","pii":{"ssn":2}}`,
			fields{"mcp_tool_execution", "info", "RESTRICTED", []string{}, 90, "mcp-tools"}},
		{"pii override", `{"pii_classification":{"secrets":"RESTRICTED"}}`, `{"event_type":"mcp_tool_execution","pii":{"password":1}}`,
			fields{"mcp_tool_execution", "info", "RESTRICTED", []string{}, 90, "mcp-tools"}},
		{"tool rule", `{"frameworks":["hipaa"],"rule":[{"tool":"patient_*","classification":"RESTRICTED","frameworks":["hipaa"]}]}`,
			`{"event_type":"mcp_tool_execution","tool_name":"patient_lookup"}`,
			fields{"mcp_tool_execution", "info", "RESTRICTED", []string{"hipaa"}, 2190, "mcp-tools"}},
		{"tool rule no match", `{"rule":[{"tool":"patient_*","classification":"RESTRICTED"}]}`,
			`{"event_type":"mcp_tool_execution","tool_name":"weather"}`,
			fields{"mcp_tool_execution", "info", "INTERNAL", []string{}, 90, "mcp-tools"}},
		{"resource rule via arguments.uri", `{"rule":[{"resource":"file:///hr/*","classification":"SECRET"}]}`,
			`{"event_type":"mcp_resource_access","arguments":{"uri":"file:///hr/salaries.csv"}}`,
			fields{"mcp_resource_access", "info", "SECRET", []string{}, 365, "mcp-resources"}},
		{"never lowered", `{}`, `{"event_type":"mcp_tool_execution","classification":"SECRET"}`,
			fields{"mcp_tool_execution", "info", "SECRET", []string{}, 90, "mcp-tools"}},
		{"default classification", `{"default_classification":"PUBLIC"}`, `{"event_type":"mcp_prompt_request"}`,
			fields{"mcp_prompt_request", "info", "PUBLIC", []string{}, 90, "mcp-prompts"}},
		{"type override", `{"event_type":[{"name":"mcp_tool_execution","index":"audit-tools","retention_days":30,"severity":"medium","classification":"CONFIDENTIAL"}]}`,
			`{"event_type":"mcp_tool_execution"}`,
			fields{"mcp_tool_execution", "medium", "CONFIDENTIAL", []string{}, 30, "audit-tools"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, r := one(t, newClassifier(t, c.cfg), c.body)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
			if r.Type != got.EventType || r.Severity != got.Severity || r.Classification != got.Classification {
				t.Fatalf("envelope out of step: %q %q %q", r.Type, r.Severity, r.Classification)
			}
			if r.Attributes["index"] != got.Index {
				t.Fatalf("attributes: %v", r.Attributes)
			}
		})
	}
}

func TestFrameworks(t *testing.T) {
	all := `{"audit_level":"enterprise","frameworks":["SOX","gdpr","HIPAA","SOC 2","PCI-DSS"],"real_time_monitoring":false}`
	cases := []struct {
		cfg, typ, pii string
		want          []string
		days          int
	}{
		{`{"frameworks":["sox"]}`, "mcp_tool_execution", "", []string{"sox"}, 2555},
		{`{"frameworks":["sox"]}`, "mcp_resource_access", "", []string{}, 365},
		{`{"frameworks":["gdpr"]}`, "mcp_resource_access", "", []string{"gdpr"}, 2190},
		{`{"frameworks":["gdpr"]}`, "mcp_tool_execution", `{"email":1}`, []string{"gdpr"}, 2190},
		{`{"frameworks":["hipaa"]}`, "mcp_authorization_decisions", "", []string{"hipaa"}, 2190},
		{`{"audit_level":"enterprise","frameworks":["soc2"]}`, "mcp_compliance_events", "", []string{"soc2"}, 2555},
		{`{"frameworks":["soc2"]}`, "mcp_authentication_events", "", []string{"soc2"}, 730},
		{`{"frameworks":["pci_dss"]}`, "mcp_tool_execution", `{"credit_card":1}`, []string{"pci_dss"}, 90 + 275},
		{`{"frameworks":["pci_dss"],"framework":[{"name":"pci_dss","retention_days":1000}]}`, "mcp_policy_violations", "", []string{"pci_dss"}, 2555},
		{`{"frameworks":["pci_dss"],"framework":[{"name":"pci_dss","retention_days":3000}]}`, "mcp_policy_violations", "", []string{"pci_dss"}, 3000},
		{all, "mcp_authentication_events", "", []string{"gdpr", "hipaa", "soc2", "pci_dss"}, 2190},
		{all, "mcp_authorization_decisions", "", []string{"sox", "hipaa", "soc2", "pci_dss"}, 2555},
		{all, "mcp_rate_limiting_events", "", []string{}, 90},
	}
	for _, c := range cases {
		t.Run(c.cfg+"/"+c.typ, func(t *testing.T) {
			body := `{"event_type":"` + c.typ + `"`
			if c.pii != "" {
				body += `,"pii":` + c.pii
			}
			got, _ := one(t, newClassifier(t, c.cfg), body+"}")
			if !reflect.DeepEqual(got.Compliance, c.want) || got.RetentionDays != c.days {
				t.Fatalf("compliance %v retention %d, want %v %d", got.Compliance, got.RetentionDays, c.want, c.days)
			}
		})
	}
}

func TestAuditLevels(t *testing.T) {
	want := map[string]int{"basic": 3, "standard": 6, "enterprise": 10}
	for lvl, n := range want {
		c := newClassifier(t, `{"audit_level":"`+lvl+`","real_time_monitoring":false}`)
		var bodies []string
		for _, typ := range sdk.EventTypes {
			bodies = append(bodies, `{"event_type":"`+typ+`"}`)
		}
		out := run(t, c, bodies...)
		if len(out.Records) != n || len(out.Rejected) != 0 {
			t.Errorf("%s: %d records pass, want %d", lvl, len(out.Records), n)
		}
		sum, _ := c.Invoke(context.Background(), "get_audit_summary", nil)
		if got := sum.(map[string]any)["filtered_by_type"].(map[string]uint64); int(total(got)) != 10-n {
			t.Errorf("%s: filtered %v", lvl, got)
		}
	}
}

func total(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

func TestRejections(t *testing.T) {
	c := newClassifier(t, `{}`)
	out := run(t, c, `{"event_type":"made_up"}`, `{"method":"ping"}`, `{"event_type":"mcp_tool_execution","severity":"apocalyptic"}`, `{"event_type":"mcp_tool_execution"}`)
	if len(out.Records) != 1 || len(out.Rejected) != 3 {
		t.Fatalf("records %d rejected %+v", len(out.Records), out.Rejected)
	}
	pass := newClassifier(t, `{"audit_level":"enterprise","unknown_event_types":"pass"}`)
	got, _ := one(t, pass, `{"event_type":"made_up"}`)
	if got.Index != "mcp-audit" || got.RetentionDays != 365 {
		t.Fatalf("%+v", got)
	}
}

func TestMinimisationAndTruncation(t *testing.T) {
	c := newClassifier(t, `{"max_result_chars":10}`)
	out := run(t, c, `{"event_id":"e","event_type":"mcp_tool_execution","user_id":"u","resource_type":"file","tool_name":"t","result":"héllo wörld, long"}`)
	body := string(out.Records[0].Body)
	if strings.Contains(body, "resource_type") || !strings.Contains(body, `"user_id":"u"`) ||
		!strings.Contains(body, `"result":"héllo wörl"`) || !strings.Contains(body, `"result_truncated":true`) {
		t.Fatal(body)
	}
	obj := run(t, c, `{"event_type":"mcp_tool_execution","result":{"content":[{"type":"text"}]}}`)
	if !strings.Contains(string(obj.Records[0].Body), `"result":"{\"content\""`) {
		t.Fatal(string(obj.Records[0].Body))
	}
	keep := newClassifier(t, `{"minimize_fields":false,"max_result_chars":0}`)
	out = run(t, keep, `{"event_type":"mcp_tool_execution","resource_type":"file","result":"`+strings.Repeat("x", 2000)+`"}`)
	if !strings.Contains(string(out.Records[0].Body), "resource_type") || strings.Contains(string(out.Records[0].Body), "result_truncated") {
		t.Fatal("minimisation or truncation ran while off")
	}
}

func TestRealTimeAlerts(t *testing.T) {
	c := newClassifier(t, `{"audit_level":"enterprise"}`)
	out := run(t, c, `{"event_id":"01JD000000000000000000AUTH","event_type":"mcp_authentication_events","user_id":"u1","success":false}`)
	if len(out.Records) != 2 {
		t.Fatalf("%d records", len(out.Records))
	}
	var alert map[string]any
	json.Unmarshal(out.Records[1].Body, &alert)
	if alert["event_type"] != "mcp_security_threats" || alert["correlation_id"] != "01JD000000000000000000AUTH" ||
		alert["user_id"] != "u1" || alert["index"] != "mcp-threats" || out.Records[1].Type != "mcp_security_threats" {
		t.Fatalf("%v", alert)
	}
	if got := run(t, newClassifier(t, `{"audit_level":"standard"}`), `{"event_type":"mcp_authentication_events","success":false}`); len(got.Records) != 1 {
		t.Fatal("alert emitted where threats are not kept")
	}
}

func TestInvokeShapes(t *testing.T) {
	c := newClassifier(t, `{"audit_level":"basic","frameworks":["sox"]}`)
	run(t, c, `{"event_type":"mcp_tool_execution"}`, `{"event_type":"mcp_rate_limiting_events"}`)
	st, err := c.Invoke(context.Background(), sdk.OpGetStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := st.(map[string]any)
	if s["audit_level"] != "basic" || len(s["active_events"].([]string)) != 3 || s["real_time_monitoring"] != true ||
		!reflect.DeepEqual(s["compliance_frameworks"], []string{"sox"}) || s["retention_days"] != 365 || s["events_filtered"] != uint64(1) {
		t.Fatalf("%v", s)
	}
	if _, err := c.Invoke(context.Background(), "nope", nil); !errors.As(err, new(sdk.ErrUnknownOperation)) {
		t.Fatal(err)
	}
}

// TestGolden runs each testdata/golden/*.in.jsonl through the configuration
// in the matching .config.json and compares with .out.jsonl.
func TestGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/golden/*.in.jsonl")
	if len(ins) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range ins {
		base := strings.TrimSuffix(in, ".in.jsonl")
		t.Run(filepath.Base(base), func(t *testing.T) {
			cfg, err := os.ReadFile(base + ".config.json")
			if err != nil {
				t.Fatal(err)
			}
			src, _ := os.ReadFile(in)
			c := newClassifier(t, string(cfg))
			var got bytes.Buffer
			for _, line := range bytes.Split(bytes.TrimSpace(src), []byte("\n")) {
				out := run(t, c, string(line))
				for _, r := range out.Records {
					got.Write(r.Body)
					got.WriteByte('\n')
				}
				for _, rj := range out.Rejected {
					got.WriteString("REJECTED " + rj.Reason + "\n")
				}
			}
			if *update {
				os.WriteFile(base+".out.jsonl", got.Bytes(), 0o644)
				return
			}
			want, _ := os.ReadFile(base + ".out.jsonl")
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("got:\n%s\nwant:\n%s", got.Bytes(), want)
			}
		})
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		`{"audit_level":"max"}`:                                               "audit_level",
		`{"frameworks":["iso27001"]}`:                                         "frameworks",
		`{"retention_days":-1}`:                                               "retention_days",
		`{"default_classification":"TOP"}`:                                    "default_classification",
		`{"max_result_chars":-5}`:                                             "max_result_chars",
		`{"unknown_event_types":"drop"}`:                                      "unknown_event_types",
		`{"pii_classification":{"email":"HIGH"}}`:                             "pii_classification",
		`{"event_type":[{"name":"mcp_nope"}]}`:                                "event_type.name",
		`{"event_type":[{"name":"mcp_tool_execution","severity":"loud"}]}`:    "event_type.severity",
		`{"framework":[{"name":"iso"}]}`:                                      "framework.name",
		`{"framework":[{"name":"sox","event_types":["x"]}]}`:                  "framework.event_types",
		`{"rule":[{"classification":"SECRET"}]}`:                              "rule.tool",
		`{"rule":[{"tool":"[","classification":"SECRET"}]}`:                   "rule.tool",
		`{"rule":[{"tool":"a","classification":"HUSH"}]}`:                     "rule.classification",
		`{"frameworks":["sox"],"rule":[{"tool":"a","frameworks":["hipaa"]}]}`: "rule.frameworks",
	}
	for cfg, field := range cases {
		err := (&Classifier{}).Validate(sdk.Config{Raw: json.RawMessage(cfg)})
		var fe *sdk.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: got %v, want a FieldError on %s", cfg, err, field)
		}
	}
}
