package microsoft_sentinel

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// The ARM template's stream declaration and table must have exactly the
// columns the output sends, or Azure drops what does not match, silently.
func TestARMTemplateDeclaresEveryColumnWeSend(t *testing.T) {
	raw, err := os.ReadFile("../../../examples/sentinel/azuredeploy.json")
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources []struct {
			Type       string
			Properties struct {
				StreamDeclarations map[string]struct{ Columns []struct{ Name, Type string } }
				Schema             struct{ Columns []struct{ Name, Type string } }
			}
		}
	}
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	rt := reflect.TypeOf(row{})
	for i := range rt.NumField() {
		f := rt.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		switch f.Type.Kind() {
		case reflect.Int:
			want[name] = "int"
		case reflect.Map:
			want[name] = "dynamic"
		default:
			want[name] = "string"
			if strings.HasSuffix(name, "Time") || name == "TimeGenerated" {
				want[name] = "datetime"
			}
		}
	}
	var checked int
	for _, r := range tmpl.Resources {
		cols := r.Properties.Schema.Columns
		if s, ok := r.Properties.StreamDeclarations["Custom-MCPAudit"]; ok {
			cols = s.Columns
		}
		if len(cols) == 0 {
			continue
		}
		checked++
		got := map[string]string{}
		for _, c := range cols {
			got[c.Name] = c.Type
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s columns\n got %v\nwant %v", r.Type, got, want)
		}
	}
	if checked != 2 {
		t.Fatalf("found %d column lists, want the table's and the stream's", checked)
	}
}
