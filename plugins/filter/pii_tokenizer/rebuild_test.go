package piitokenizer

import (
	"context"
	"regexp"
	"testing"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Edits are applied in body order wherever the "pii" member sits among the
// changed values, and every record of a batch gets its own body although the
// replacements share one buffer between records.
func TestEditsAroundAnEarlierPIIMember(t *testing.T) {
	tk := newTestTokenizer(t, nil)
	bodies := []string{
		`{"arguments":{"to":"a@example.com"},"pii":{"email":1},"result":"b@example.com and c@example.com"}`,
		`{"arguments":{"to":"d@example.com"},"result":"none"}`,
		`{ }`,
		`{"result":"e@example.com"}`,
	}
	in := &sdk.Batch{}
	for _, b := range bodies {
		r, err := sdk.NewRecord([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		in.Records = append(in.Records, r)
	}
	out, err := tk.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	tok := `"tok_email_[a-z2-7]{16}"`
	want := []*regexp.Regexp{
		regexp.MustCompile(`^\{"event_id":"[0-9A-Z]{26}","arguments":\{"to":` + tok + `\},"pii":\{"email":4\},"result":"tok_email_[a-z2-7]{16} and tok_email_[a-z2-7]{16}"\}$`),
		regexp.MustCompile(`^\{"event_id":"[0-9A-Z]{26}","arguments":\{"to":` + tok + `\},"result":"none","pii":\{"email":1\}\}$`),
		regexp.MustCompile(`^\{"event_id":"[0-9A-Z]{26}"\}$`),
		regexp.MustCompile(`^\{"event_id":"[0-9A-Z]{26}","result":` + tok + `,"pii":\{"email":1\}\}$`),
	}
	for i, r := range out.Records {
		if !want[i].Match(r.Body) {
			t.Errorf("record %d: %s", i, r.Body)
		}
	}
	if out.Records[0].Attributes["pii.email"] != "4" || out.Records[1].Attributes["pii.email"] != "1" || out.Records[2].Attributes != nil {
		t.Errorf("attributes %v %v %v", out.Records[0].Attributes, out.Records[1].Attributes, out.Records[2].Attributes)
	}
}
