package piitokenizer

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

// testdata/golden.jsonl pins the filter's exact output (body bytes, record
// attributes, findings, rejections) for the labelled corpus, the benchmark
// events and hand-written edge cases under several configurations. The
// quality test only checks what is found; this one fails on any change of
// bytes, so work on speed cannot change behaviour unnoticed. A deliberate
// change is reviewed and recorded with -update-golden.

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden.jsonl from the current output")

const goldenPath = "testdata/golden.jsonl"

// goldenConfigs cover every action, token lengths, extra key names, nested
// paths and the phone regions.
var goldenConfigs = []struct {
	name string
	args map[string]any
}{
	{"default", nil},
	{"mask", map[string]any{"actions": map[string]string{"pii": "mask", "secrets": "mask"}}},
	{"mixed", map[string]any{
		"actions":       map[string]string{"email": "hash", "phone": "redact", "ip_address": "keep", "secrets": "tokenize", "jwt": "hash"},
		"key_names":     map[string]string{"customer_tin": "ssn", "contact": "email", "Session-Cookie": "secret"},
		"paths":         []string{"arguments", "result.content", "error.message"},
		"phone_regions": []string{"US", "GB", "DE", "FR", "IN"},
		"token_length":  52,
	}},
}

// goldenEdgeCases exercise the walker's parsing and rebuilding beyond what
// the generated corpus (compact json.Marshal output) contains.
var goldenEdgeCases = []string{
	cleanEvent, piiEvent, chainEvent,
	`{}`, `{ }`, ` {"result":"a@example.com"} `,
	"{\n  \"arguments\" : {\"to\" : \"a@example.com\" ,\n \"cc\":[ \"b@example.com\" , 1, true, null, -2.5e3 ]},\n\t\"result\":\"x\"\n}\n",
	`{"arguments":{"to":"a@example.com"},"pii":{"email":1},"result":"b@example.com and c@example.com"}`,
	`{"pii":{"email":2,"custom_id":1,"zzz":3,"aaa":4},"result":"x@example.com, +44 20 7946 0958"}`,
	`{"pii":"not an object","result":"x@example.com"}`,
	`{"pii":{"email":1}}`,
	`{"result":"line1\nmail: \u006aane@example.com \"quoted\" \\ tab\there \u00e9\u2028 \ud83d\ude00 end"}`,
	`{"result":"\u0000\u001f control a@example.com"}`,
	`{"result":"caf\u00e9 m\u00fcller@example.com ünïcödé jürgen@beispiel.de 名前 a@例え.jp"}`,
	`{"arguments":{"User_EMAIL":"not an address","Client-Secret":"s3cr3t-value","clientSecret":"tok_secret_abc","API_KEY":"null","sessionCookie":"abc123def","customer_tin":"078051123","contact":"someone","ssn":12345,"phone":"(415) 555-2671"}}`,
	`{"arguments":{"app_version":"10.0.19045.3803","server_version":"192.168.1.1","ip":"192.168.1.1","note":"from 10.1.2.3 and ::1 and 2001:db8::8a2e:370:7334."}}`,
	`{"arguments":{"` + strings.Repeat("k", 70) + `password":"hunter2hunter2","nested":{"deeper":[{"password":"p@ssw0rd!"},{"token":""},{"secret":"  "}]}}}`,
	`{"result":"DB_PASSWORD=hunter22 api_key: abcdef0123456789 \"client_secret\": \"xyz-987\" https://x.io/cb?token=QWERTY123&x=1 ssn: 078-05-1123 SSN=12-34 password: <redacted> secret: ${VAR}"}`,
	`{"result":"Authorization: Bearer abcDEF123456ghiJKL, Basic dXNlcjpwYXNz, bearer tok_bearer_abcdefghij, Basic bm9jb2xvbg=="}`,
	`{"result":"postgres://app:pw123456@db:5432/x redis://:s3cretpass@cache:6379 https://user@host/ git@github.com:acme/app.git mail a@b.co@c.com x@y.z"}`,
	`{"result":"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY----- then -----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----"}`,
	`{"result":"-----BEGIN OPENSSH PRIVATE KEY-----\ntruncated"}`,
	`{"result":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U eyJub3BlIjoxfQ.eyJ4IjoxfQ.sig"}`,
	`{"result":"AKIAIOSFODNN7EXAMPLE ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 xoxb-1234567890-abcdefghij sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789 sk_live_abcdefghijklmnop1234 AIzaSyA1234567890abcdefghijklmnopqrstu glpat-abcdefghij0123456789 whsec_abcdefghijklmnopqrstuvwx1234 sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD AKIAshort"}`,
	`{"result":"cards 4242 4242 4242 4242, 4012-8888-8888-1881, 378282246310005, 4242424242424241; ssn 078-05-1123 666-12-3456; phones +1 415-555-2671 (212) 555-0188 020 7946 0958 01 23 45 67 89 +49 30 901820; (see 415) 555-2671"}`,
	`{"result":"IBAN GB82 WEST 1234 5698 7654 32 and DE89370400440532013000 and GB82WEST12345698765433 FR1420041010050500013M02606"}`,
	`{"result":"dates 2024-06-10 12:34:56, 2024.06.10, uuid 550e8400-e29b-41d4-a716-446655440000, v1.2.3.4, 1.2.3.4.5, mac 00:1a:2b:3c:4d:5e, epoch 1718035200"}`,
	`{"error":{"message":"no mailbox b@example.com","code":"b@example.com"},"arguments":{"deep":[[[[{"x":["c@example.com"]}]]]]}}`,
	`{"result":["a@example.com",{"email":"B@Example.COM"},["+1 415 555 2671"]],"arguments":[]}`,
	`{"event_id":"e","session_id":"a@example.com","server":"x@example.com","result":"y@example.com"}`,
	// rejected bodies
	`{"result":"x@example.com"`, `[1,2]`, `"str"`, ``, `   `, `{"result":"\q"}`, `{"a":1}x`, `{"a" 1}`, `{"a":1,}`, `{"a":[1 2]}`, `{"a":tru}`,
	`{"arguments":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	`{"arguments":` + strings.Repeat(`{"a":`, 130) + `1` + strings.Repeat("}", 130) + `}`,
}

type goldenCase struct {
	name string
	body []byte
}

func goldenCases(t *testing.T) []goldenCase {
	var cases []goldenCase
	for i, b := range goldenEdgeCases {
		cases = append(cases, goldenCase{fmt.Sprintf("edge-%02d", i), []byte(b)})
	}
	for _, n := range []int{1, 10} {
		text := strings.Repeat("order 550e8400-e29b-41d4 shipped to jane@example.com at 2026-11-23; ", n)
		cases = append(cases, goldenCase{fmt.Sprintf("linear-%d", n), fmt.Appendf(nil, `{"event_type":"mcp_tool_execution","result":%q}`, text)})
	}
	for _, c := range readCorpus(t) {
		cases = append(cases, goldenCase{c.Name, c.Event})
	}
	return cases
}

// goldenRecord is one line of the golden file. Out is empty when the body
// passed unchanged.
type goldenRecord struct {
	Case       string            `json:"case"`
	Config     string            `json:"config"`
	Out        string            `json:"out,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Findings   []string          `json:"findings,omitempty"`
	Rejected   string            `json:"rejected,omitempty"`
}

func goldenOutput(t *testing.T) []byte {
	cases := goldenCases(t)
	var buf bytes.Buffer
	for _, gc := range goldenConfigs {
		tk := newTestTokenizer(t, gc.args)
		recs := make([]goldenRecord, len(cases))
		// Batches of mixed sizes: replacements share buffers across the
		// records of one batch, and that must not leak between bodies.
		for lo, size := 0, 1; lo < len(cases); lo, size = lo+size, size%9+1 {
			hi := min(lo+size, len(cases))
			in := &sdk.Batch{}
			for _, c := range cases[lo:hi] {
				in.Records = append(in.Records, &sdk.Record{Body: bytes.Clone(c.body)})
			}
			out, err := tk.Process(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			for _, rj := range out.Rejected {
				recs[lo+rj.Index].Rejected = rj.Reason
			}
			next := 0
			for i := lo; i < hi; i++ {
				recs[i].Case, recs[i].Config = cases[i].name, gc.name
				if recs[i].Rejected != "" {
					continue
				}
				r := out.Records[next]
				next++
				if !bytes.Equal(r.Body, cases[i].body) {
					recs[i].Out = string(r.Body)
				}
				recs[i].Attributes = r.Attributes
			}
		}
		// Findings, with their text, through the quality test's hook.
		for i, c := range cases {
			if recs[i].Rejected != "" {
				continue // what a rejected body half-scanned never leaves the filter
			}
			var found []string
			tk.walker.onFinding = func(k kind, v string) { found = append(found, k.String()+"="+v) }
			tk.walker.process(c.body)
			recs[i].Findings = found
		}
		tk.walker.onFinding = nil
		for _, r := range recs {
			line, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(line)
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

func TestOutputMatchesGolden(t *testing.T) {
	got := goldenOutput(t)
	if *updateGolden {
		if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test -run TestOutputMatchesGolden -update-golden)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	var diffs []string
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			diffs = append(diffs, fmt.Sprintf("line %d:\n  got  %s\n  want %s", i+1, g, w))
		}
	}
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
	}
	t.Fatalf("output differs from %s:\n%s", goldenPath, strings.Join(diffs, "\n"))
}
