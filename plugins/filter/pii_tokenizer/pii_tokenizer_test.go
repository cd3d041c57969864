package piitokenizer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
	"github.com/sentinel-audit/sentinel/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	// The README example names a key file that exists only in production.
	sdktest.Conformance(t, Definition, sdktest.Options{Config: json.RawMessage(`{"key":"` + testKey + `"}`)})
}

func process(t *testing.T, tk *Tokenizer, body string) *sdk.Record {
	t.Helper()
	r, err := sdk.NewRecord([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	out, err := tk.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{r}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rejected) > 0 || len(out.Records) != 1 {
		t.Fatalf("rejected: %+v", out.Rejected)
	}
	return out.Records[0]
}

func TestDetectsSingleValues(t *testing.T) {
	cases := []struct {
		text string
		want string // "type=value", "" for nothing
	}{
		// Presidio recognizer vectors (MIT), ported as data
		{"078-05-1123", "ssn=078-05-1123"},
		{"666000000", ""},
		{"4012-8888-8888-1882", ""}, // fails Luhn
		{"4012888888881881", "credit_card=4012888888881881"},
		{"my ip is 192.168.0.1.", "ip_address=192.168.0.1"},
		{"fe80::1ff:fe23:4567:890a", "ip_address=fe80::1ff:fe23:4567:890a"},
		{"GB82 WEST 1234 5698 7654 32", "iban=GB82 WEST 1234 5698 7654 32"},
		{"GB82 WEST 1234 5698 7654 33", ""},
		{"info@presidio.site", "email=info@presidio.site"},
		{"call (212) 555-0188 now", "phone=(212) 555-0188"},
		{"+44 20 7946 0958", "phone=+44 20 7946 0958"},
		// look-alikes
		{"550e8400-e29b-41d4-a716-446655440000", ""},
		{"version 10.0.19045.3803", ""},
		{"at 2024-06-10 12:34:56", ""},
		{"000-12-3456 123-00-4567 123-45-0000 912-34-5678", ""},
		{"ssh git@github.com:acme/app.git", ""},
		{"epoch 1718035200 and 1718035200000", ""},
		{"mac 00:1a:2b:3c:4d:5e at 12:34:56", ""},
		// secrets
		{"Authorization: Bearer abcDEF123456ghiJKL", "bearer_token=abcDEF123456ghiJKL"},
		{"redis://:s3cretpass@cache:6379", "url_credentials=s3cretpass"},
		{"export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{"GITHUB_TOKEN=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "github_token=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"},
		{"password: null", ""},
		{"the bearer of this letter", ""},
		// a bracket the text ends inside: no area code, and no read past the end
		{"(12", ""},
		{"call (212", ""},
		{"(212) 555-0188", "phone=(212) 555-0188"},
	}
	d := &detector{regions: defaultPhoneRegions, keys: newKeyContext(nil)}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			var got []string
			for _, f := range d.scan(c.text, false, nil) {
				got = append(got, f.kind.String()+"="+c.text[f.start:f.end])
			}
			if strings.Join(got, ",") != c.want {
				t.Fatalf("scan(%q) = %v, want %q", c.text, got, c.want)
			}
		})
	}
}

func TestBodyWithoutFindingsKeepsItsBytes(t *testing.T) {
	tk := newTestTokenizer(t, nil)
	body := `{"event_id":"e1","event_type":"mcp_tool_execution",  "arguments": {"path":"/srv/a.txt", "n": 3},"result":"ok \u00e9"}`
	r := process(t, tk, body)
	if string(r.Body) != body || r.Attributes != nil {
		t.Fatalf("body changed: %s %v", r.Body, r.Attributes)
	}
}

func TestTokensAreDeterministicAndJoinAcrossFormats(t *testing.T) {
	a := process(t, newTestTokenizer(t, nil), `{"arguments":{"note":"call +1 415-555-2671"},"result":"Jane.Doe@Example.com"}`)
	b := process(t, newTestTokenizer(t, nil), `{"arguments":{"phone":"(415) 555-2671"},"result":"jane.doe@example.com"}`)
	tokA := strings.Fields(gjson(t, a.Body, "arguments", "note"))[1]
	tokB := gjson(t, b.Body, "arguments", "phone")
	if !strings.HasPrefix(tokA, "tok_phone_") || tokA != tokB {
		t.Fatalf("phone tokens differ: %q vs %q", tokA, tokB)
	}
	if gjson(t, a.Body, "result") != gjson(t, b.Body, "result") {
		t.Fatal("email tokens differ by case")
	}
	other := process(t, newTestTokenizer(t, map[string]any{"key": strings.Repeat("ab", 32)}), `{"result":"jane.doe@example.com"}`)
	if gjson(t, other.Body, "result") == gjson(t, b.Body, "result") {
		t.Fatal("a different key gave the same token")
	}
}

func TestActions(t *testing.T) {
	body := `{"arguments":{"email":"jane@example.com","ssn":"078-05-1123","card":"4242 4242 4242 4242","ip":"203.0.113.7","key":"AKIAIOSFODNN7EXAMPLE"}}`
	cases := []struct {
		actions map[string]string
		field   string
		want    string
	}{
		{map[string]string{"email": "mask"}, "email", "j***@example.com"},
		{map[string]string{"ssn": "mask"}, "ssn", "***-**-1123"},
		{map[string]string{"credit_card": "mask"}, "card", "**** **** **** 4242"},
		{map[string]string{"ip_address": "mask"}, "ip", "203.0.113.*"},
		{map[string]string{"pii": "redact"}, "email", "[REDACTED:email]"},
		{map[string]string{"pii": "keep"}, "ssn", "078-05-1123"},
		{map[string]string{"pii": "keep", "ssn": "redact"}, "ssn", "[REDACTED:ssn]"},
		{nil, "key", "[REDACTED:aws_access_key]"},
		{map[string]string{"secrets": "mask"}, "key", "AKIA********"},
	}
	for _, c := range cases {
		tk := newTestTokenizer(t, map[string]any{"actions": c.actions})
		r := process(t, tk, body)
		if got := gjson(t, r.Body, "arguments", c.field); got != c.want {
			t.Errorf("actions %v: %s = %q, want %q", c.actions, c.field, got, c.want)
		}
		if r.Attributes["pii.ssn"] != "1" || !strings.Contains(string(r.Body), `"pii":{"email":1,"ssn":1,"credit_card":1,"ip_address":1,"aws_access_key":1}`) {
			t.Errorf("counts: %v %s", r.Attributes, r.Body)
		}
	}
	tk := newTestTokenizer(t, map[string]any{"actions": map[string]string{"email": "hash"}})
	if got := gjson(t, process(t, tk, body).Body, "arguments", "email"); !strings.HasPrefix(got, "hmac-sha256:") || len(got) != 12+64 {
		t.Errorf("hash = %q", got)
	}
}

func TestAlreadyTokenizedEventsAreStable(t *testing.T) {
	tk := newTestTokenizer(t, nil)
	first := process(t, tk, `{"arguments":{"password":"hunter22","to":"a@example.com"}}`)
	second := process(t, tk, string(first.Body))
	if string(second.Body) != string(first.Body) {
		t.Fatalf("second pass changed the event:\n%s\n%s", first.Body, second.Body)
	}
}

func TestCountsMergeWithEarlierStage(t *testing.T) {
	tk := newTestTokenizer(t, nil)
	r := process(t, tk, `{"pii":{"email":2,"custom_id":1},"result":"x@example.com"}`)
	if !strings.Contains(string(r.Body), `"pii":{"email":3,"custom_id":1}`) {
		t.Fatalf("%s", r.Body)
	}
}

func TestClientSentCountsCannotWrapTheFindings(t *testing.T) {
	tk := newTestTokenizer(t, nil)
	r := process(t, tk, `{"pii":{"email":-5,"phone":0,"ssn":9223372036854775807},"result":"x@example.com"}`)
	if !strings.Contains(string(r.Body), `"pii":{"email":1,"ssn":1073741824}`) {
		t.Fatalf("%s", r.Body)
	}
	if got := tk.findings[kindEmail]; got != 1 {
		t.Fatalf("email findings %d after a client sent a negative count", got)
	}
	if got := tk.findings[kindSSN]; got != 1<<30 {
		t.Fatalf("ssn findings %d, want the capped count", got)
	}
}

func TestConfiguredPathsOnly(t *testing.T) {
	tk := newTestTokenizer(t, map[string]any{"paths": []string{"error.message"}})
	r := process(t, tk, `{"arguments":{"to":"a@example.com"},"error":{"message":"no mailbox b@example.com","code":"b@example.com"}}`)
	if gjson(t, r.Body, "arguments", "to") != "a@example.com" || gjson(t, r.Body, "error", "code") != "b@example.com" ||
		!strings.HasPrefix(gjson(t, r.Body, "error", "message"), "no mailbox tok_email_") {
		t.Fatalf("%s", r.Body)
	}
}

func TestEscapedStringsAreScannedAndReencoded(t *testing.T) {
	tk := newTestTokenizer(t, map[string]any{"actions": map[string]string{"email": "redact"}})
	r := process(t, tk, `{"result":"line1\nmail: \u006aane@example.com \"quoted\""}`)
	if got := gjson(t, r.Body, "result"); got != "line1\nmail: [REDACTED:email] \"quoted\"" {
		t.Fatalf("%q", got)
	}
}

func TestBadBodiesAreRejectedNotPassed(t *testing.T) {
	tk := newTestTokenizer(t, nil)
	deep := `{"arguments":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`
	for _, body := range []string{`{"result":"x@example.com"`, `[1,2]`, deep, `{"result":"\q"}`} {
		out, err := tk.Process(context.Background(), &sdk.Batch{Records: []*sdk.Record{{Body: json.RawMessage(body)}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Records) != 0 || len(out.Rejected) != 1 || out.Rejected[0].Index != 0 {
			t.Errorf("%.40s: records %d rejected %+v", body, len(out.Records), out.Rejected)
		}
	}
}

func TestGeneratedKeyPersistsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := sdk.Config{Name: "pii", DataDir: dir, Raw: json.RawMessage(`{}`)}
	run := func() string {
		tk := &Tokenizer{}
		if err := tk.Configure(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		return gjson(t, process(t, tk, `{"result":"a@example.com"}`).Body, "result")
	}
	first := run()
	st, err := os.Stat(filepath.Join(dir, keyFileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if second := run(); second != first {
		t.Fatalf("token changed after restart: %s vs %s", first, second)
	}
	keyFile := filepath.Join(t.TempDir(), "k")
	os.WriteFile(keyFile, []byte(testKey+"\n"), 0o600)
	viaFile := newTestTokenizer(t, map[string]any{"key": nil, "key_file": keyFile})
	viaKey := newTestTokenizer(t, nil)
	if a, b := process(t, viaFile, `{"result":"a@example.com"}`), process(t, viaKey, `{"result":"a@example.com"}`); gjson(t, a.Body, "result") != gjson(t, b.Body, "result") {
		t.Fatal("key_file and key with the same key disagree")
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		cfg   string
		field string
	}{
		{`{"key":"abc"}`, "key"},
		{`{"key":"` + strings.Repeat("zz", 32) + `"}`, "key"},
		{`{"key":"` + testKey + `","key_file":"/k"}`, "key_file"},
		{`{"actions":{"email":"scramble"}}`, "actions"},
		{`{"actions":{"zip":"mask"}}`, "actions"},
		{`{"actions":{"github_token":"keep"}}`, "actions"},
		{`{"actions":{"secrets":"keep"}}`, "actions"},
		{`{"key_names":{"tin":"tax"}}`, "key_names"},
		{`{"paths":["arguments..x"]}`, "paths"},
		{`{"paths":["session_id"]}`, "paths"},
		{`{"phone_regions":["XX"]}`, "phone_regions"},
		{`{"token_length":8}`, "token_length"},
	}
	for _, c := range cases {
		err := (&Tokenizer{}).Validate(sdk.Config{Raw: json.RawMessage(c.cfg)})
		var fe *sdk.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: got %v, want a FieldError on %s", c.cfg, err, c.field)
		}
		if err != nil && strings.Contains(err.Error(), strings.Repeat("zz", 32)) {
			t.Errorf("the error prints the key: %v", err)
		}
	}
}

func gjson(t *testing.T, body []byte, path ...string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %v in %s", path, body)
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}
