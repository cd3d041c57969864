package dashboards_test

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/output/splunk_hec"
)

// missing lists the fields of used that the output never wrote.
func missing(used []string, wrote map[string]bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range used {
		if !wrote[f] && !seen[f] {
			out = append(out, f)
			seen[f] = true
		}
	}
	sort.Strings(out)
	return out
}

var kqlField = regexp.MustCompile(`([A-Za-z_@][\w.@]*)\s*:`)

type savedObject struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Attributes map[string]any `json:"attributes"`
	References []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"references"`
}

func TestKibanaSavedObjects(t *testing.T) {
	wrote := outputFields(t)["elasticsearch"]
	files, _ := filepath.Glob("kibana/*.ndjson")
	titles := map[string]bool{}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		var objs []savedObject
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var o savedObject
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				t.Fatalf("%s: line %d is not a saved object: %v", file, len(objs)+1, err)
			}
			objs = append(objs, o)
		}
		f.Close()
		byID := map[string]savedObject{}
		for _, o := range objs {
			if o.ID == "" || o.Type == "" || o.Attributes == nil {
				t.Fatalf("%s: object without id, type or attributes: %+v", file, o)
			}
			byID[o.Type+"/"+o.ID] = o
		}
		var used []string
		dashboards := 0
		for _, o := range objs {
			switch o.Type {
			case "index-pattern":
				if o.Attributes["title"] != "logs-mcp.*" || o.Attributes["timeFieldName"] != "@timestamp" {
					t.Errorf("%s: index pattern %v does not match the elasticsearch output's data streams", file, o.Attributes)
				}
				used = append(used, "@timestamp")
			case "visualization", "search":
				src := searchSource(t, file, o)
				if len(o.References) != 1 || o.References[0].Name != src.IndexRefName || byID["index-pattern/"+o.References[0].ID].ID == "" {
					t.Errorf("%s: %s does not reference the file's index pattern", file, o.ID)
				}
				for _, m := range kqlField.FindAllStringSubmatch(src.Query.Query, -1) {
					used = append(used, m[1])
				}
				if o.Type == "search" {
					for _, c := range o.Attributes["columns"].([]any) {
						used = append(used, c.(string))
					}
					continue
				}
				var vs struct {
					Type string `json:"type"`
					Aggs []struct {
						Type   string         `json:"type"`
						Schema string         `json:"schema"`
						Params map[string]any `json:"params"`
					} `json:"aggs"`
				}
				if err := json.Unmarshal([]byte(o.Attributes["visState"].(string)), &vs); err != nil || vs.Type == "" || len(vs.Aggs) == 0 {
					t.Errorf("%s: %s: visState unreadable: %v", file, o.ID, err)
					continue
				}
				for _, a := range vs.Aggs {
					if f, ok := a.Params["field"].(string); ok {
						used = append(used, f)
					}
				}
			case "dashboard":
				dashboards++
				titles[o.Attributes["title"].(string)] = true
				var panels []struct {
					PanelRefName string         `json:"panelRefName"`
					GridData     map[string]any `json:"gridData"`
				}
				if err := json.Unmarshal([]byte(o.Attributes["panelsJSON"].(string)), &panels); err != nil || len(panels) < 4 {
					t.Fatalf("%s: panelsJSON: %v (%d panels)", file, err, len(panels))
				}
				refs := map[string]string{}
				for _, r := range o.References {
					refs[r.Name] = r.Type + "/" + r.ID
				}
				for _, p := range panels {
					target, ok := refs[p.PanelRefName]
					if !ok || byID[target].ID == "" {
						t.Errorf("%s: panel %s points at %q, not an object of this file", file, p.PanelRefName, target)
					}
					if p.GridData["w"] == nil || p.GridData["h"] == nil {
						t.Errorf("%s: panel %s has no size", file, p.PanelRefName)
					}
				}
			default:
				t.Errorf("%s: unexpected object type %q", file, o.Type)
			}
		}
		if dashboards != 1 {
			t.Errorf("%s: %d dashboards, want 1", file, dashboards)
		}
		if m := missing(used, wrote); len(m) > 0 {
			t.Errorf("%s uses fields the elasticsearch output never writes: %v", file, m)
		}
	}
	for _, want := range []string{"MCP Security Overview", "MCP Compliance", "MCP Operations"} {
		if !titles[want] {
			t.Errorf("no %q dashboard", want)
		}
	}
}

type searchSourceJSON struct {
	Query struct {
		Query    string `json:"query"`
		Language string `json:"language"`
	} `json:"query"`
	IndexRefName string `json:"indexRefName"`
}

func searchSource(t *testing.T, file string, o savedObject) searchSourceJSON {
	meta, _ := o.Attributes["kibanaSavedObjectMeta"].(map[string]any)
	raw, _ := meta["searchSourceJSON"].(string)
	var s searchSourceJSON
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.IndexRefName == "" || (s.Query.Query != "" && s.Query.Language != "kuery") {
		t.Errorf("%s: %s: searchSourceJSON %q: %v", file, o.ID, raw, err)
	}
	return s
}

// splField finds field names in SPL: identifiers that are not commands,
// functions, keywords, or names the query itself defines (after "as", eval targets).
var (
	splToken   = regexp.MustCompile(`[A-Za-z_][\w.{}]*`)
	splString  = regexp.MustCompile(`"[^"]*"`)
	splAlias   = regexp.MustCompile(`(?i)\bas\s+(\w+)`)
	splEvalDst = regexp.MustCompile(`(?i)\beval\s+(\w+)\s*=`)
	splWords   = map[string]bool{}
)

func init() {
	for _, w := range strings.Fields(`sourcetype index timechart stats count by sort table eval as dc avg min max round
		search where head limit span if true false sum values latest earliest perc95 top fields rename and or not`) {
		splWords[w] = true
	}
}

func splFields(q string) []string {
	aliases := map[string]bool{}
	for _, m := range splAlias.FindAllStringSubmatch(q, -1) {
		aliases[m[1]] = true
	}
	for _, m := range splEvalDst.FindAllStringSubmatch(q, -1) {
		aliases[m[1]] = true
	}
	var out []string
	for _, tok := range splToken.FindAllString(splString.ReplaceAllString(q, `""`), -1) {
		if !splWords[strings.ToLower(tok)] && !aliases[tok] {
			out = append(out, tok)
		}
	}
	return out
}

func TestSplunkDashboard(t *testing.T) {
	wrote := outputFields(t)["splunk"]
	raw, err := os.ReadFile("splunk/mcp_security.xml")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		XMLName xml.Name `xml:"dashboard"`
		Version string   `xml:"version,attr"`
		Label   string   `xml:"label"`
		Rows    []struct {
			Panels []struct {
				Title string `xml:"title"`
				Viz   []struct {
					XMLName  xml.Name
					Searches []struct {
						Query string `xml:"query"`
					} `xml:"search"`
				} `xml:",any"`
			} `xml:"panel"`
		} `xml:"row"`
	}
	if err := xml.Unmarshal(raw, &d); err != nil {
		t.Fatalf("not a Simple XML dashboard: %v", err)
	}
	if d.Version != "1.1" || d.Label == "" || len(d.Rows) < 4 {
		t.Fatalf("dashboard version %q label %q rows %d", d.Version, d.Label, len(d.Rows))
	}
	// the sourcetype is the output's own default, read from its schema
	f, _ := splunk_hec.Definition.Config.Field("sourcetype")
	wantST := `sourcetype="` + f.Default.(string) + `"`
	var used []string
	panels := 0
	for _, r := range d.Rows {
		for _, p := range r.Panels {
			panels++
			if p.Title == "" || len(p.Viz) != 1 || len(p.Viz[0].Searches) != 1 || p.Viz[0].Searches[0].Query == "" {
				t.Errorf("panel %q needs a title and one visualization with one search", p.Title)
				continue
			}
			switch p.Viz[0].XMLName.Local {
			case "chart", "table", "single", "event", "map":
			default:
				t.Errorf("panel %q: unknown visualization <%s>", p.Title, p.Viz[0].XMLName.Local)
			}
			q := p.Viz[0].Searches[0].Query
			if !strings.HasPrefix(q, wantST) {
				t.Errorf("panel %q does not search %s: %s", p.Title, wantST, q)
			}
			used = append(used, splFields(q)...)
		}
	}
	if panels < 8 {
		t.Errorf("%d panels", panels)
	}
	if m := missing(used, wrote); len(m) > 0 {
		t.Errorf("the Splunk dashboard uses fields the splunk_hec output never writes: %v", m)
	}
}

var (
	kqlString   = regexp.MustCompile(`"[^"]*"`)
	kqlIdent    = regexp.MustCompile(`[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*`)
	sentinelTbl = regexp.MustCompile(`"defaultValue":\s*"(\w+_CL)"`)
)

func TestSentinelWorkbook(t *testing.T) {
	wrote := outputFields(t)["sentinel"]
	raw, err := os.ReadFile("sentinel/workbook.json")
	if err != nil {
		t.Fatal(err)
	}
	arm, err := os.ReadFile("../sentinel/azuredeploy.json")
	if err != nil {
		t.Fatal(err)
	}
	m := sentinelTbl.FindSubmatch(arm)
	if m == nil {
		t.Fatal("no custom table in examples/sentinel/azuredeploy.json")
	}
	table := string(m[1])
	var wb struct {
		Version string `json:"version"`
		Items   []struct {
			Type    int `json:"type"`
			Content struct {
				Version       string `json:"version"`
				Query         string `json:"query"`
				Title         string `json:"title"`
				QueryType     *int   `json:"queryType"`
				ResourceType  string `json:"resourceType"`
				Visualization string `json:"visualization"`
			} `json:"content"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &wb); err != nil || wb.Version != "Notebook/1.0" {
		t.Fatalf("not a workbook: %v %q", err, wb.Version)
	}
	var used []string
	queries := 0
	for _, it := range wb.Items {
		if it.Type != 3 {
			continue
		}
		queries++
		c := it.Content
		if c.Version != "KqlItem/1.0" || c.QueryType == nil || *c.QueryType != 0 || c.ResourceType != "microsoft.operationalinsights/workspaces" || c.Title == "" || c.Visualization == "" {
			t.Errorf("query item %q is incomplete: %+v", c.Title, c)
		}
		if !strings.HasPrefix(c.Query, table+" ") {
			t.Errorf("%q does not query %s (the table of examples/sentinel): %s", c.Title, table, c.Query)
		}
		for _, id := range kqlIdent.FindAllString(kqlString.ReplaceAllString(c.Query, `""`), -1) {
			// columns are PascalCase (ASIM) or AdditionalFields paths; lower-case
			// identifiers are KQL operators, functions and the query's own names
			if id == table || id[0] < 'A' || id[0] > 'Z' {
				continue
			}
			used = append(used, id)
		}
	}
	if queries < 6 {
		t.Errorf("%d queries", queries)
	}
	if m := missing(used, wrote); len(m) > 0 {
		t.Errorf("the workbook uses columns the microsoft_sentinel output never writes: %v", m)
	}
}

// The extractors must find the fields they are meant to find, or the checks
// above would pass vacuously.
func TestFieldExtractorsFindFields(t *testing.T) {
	got := splFields(`sourcetype="mcp:audit" x="a b" | stats count as calls avg(duration_ms) as avg_ms by server | eval rate=calls/2 | table indicators.count compliance{}`)
	if strings.Join(got, ",") != "x,duration_ms,server,indicators.count,compliance{}" {
		t.Errorf("spl: %v", got)
	}
	if m := missing([]string{"mcp.tool_name", "mcp.nope"}, map[string]bool{"mcp.tool_name": true}); len(m) != 1 || m[0] != "mcp.nope" {
		t.Errorf("missing: %v", m)
	}
	if m := kqlField.FindAllStringSubmatch(`event.action : "x" and mcp.reason: y`, -1); len(m) != 2 || m[1][1] != "mcp.reason" {
		t.Errorf("kql: %v", m)
	}
}
