package fieldcrypt

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/locate.golden from the current skimmer")

// goldenFieldSets are the field lists every golden body is located with:
// named and nested paths, one path alone as the audit chain configures it,
// and "*" at the top and inside, where paths are built from the keys read.
var goldenFieldSets = [][]string{
	locateFields,
	{"arguments.path"},
	{"*", "arguments.password", "*.token", "x.*.y"},
}

// goldenBodies are well-formed and malformed events, chosen to reach every
// branch of the skimmer: whitespace, escapes in keys and values, quotes and
// backslashes on both sides of an eight-byte boundary, nesting, duplicate
// keys, encrypted and null values, and bodies cut or garbled anywhere.
var goldenBodies = []string{
	// The audit chain's event and the integrity benchmark's.
	`{"event_id":"01M83XJ88037RC66M80A6DX48Q","timestamp":"2026-11-23T10:00:00Z","event_type":"mcp_tool_execution","severity":"info","session_id":"6f1c2a7e-5b8d-4c3e-9a1f-2d4b6c8e0a13","client_id":"claude-desktop","user_id":"u-1","server":"filesystem","tool_name":"read_file","arguments":{"path":"/srv/projects/atlas/reports/2026/q3-summary.md","contact":"tok_email_24d3ewbfatrnd2ub"},"result":"Quarterly revenue grew eleven percent; churn fell to 2.1 percent.","duration_ms":12,"success":true,"pii":{"email":1},"classification":"CONFIDENTIAL","compliance":["sox","gdpr"],"retention_days":2555,"index":"mcp-tools"}`,
	benchBody,

	// Well formed.
	`{"event_id":"e","arguments":{"password":"hunter2","path":"/etc"},"result":"ok"}`,
	` { "result" : { "rows" : [ 1 , {"x":"}"} ] } , "arguments" : { "password" : 42 } } `,
	"\t{\n\"result\"\r:\n1 ,\t\"token\" :\"t\"\n}\n",
	`{"arguments":{"path":"a\"b\\","password":"p\\\"w"},"result":[1,2,[3]],"token":true}`,
	`{"a":{"b":{"c":"deep","d":1},"c":2},"b":{"c":3}}`,
	`{"a":{"x":{"d":[1],"c":0},"b":{"d":null,"c":"c"}},"meta":{"k":1,"l":{"m":2},"n":"$enc:v1.k.x"}}`,
	`{"a":{"b":{"c":{"d":1}},"z":{"d":{"d":2}}}}`,
	`{"meta":"scalar","a":{"b":{"c":{"d":1}}}}`,
	`{"meta":{"x":{"y":{"z":1}},"w":[1],"":3}}`,
	`{"arguments":"not an object","result":null,"token":"$enc:v1.k.x"}`,
	`{"arguments":{"nested":{"password":"no"}},"password":"top"}`,
	`{"x":"\u0022result\u0022","result":-1.5e+3,"token":false}`,
	`{}`,
	`{ }`,
	`{"result":""}`,
	`{"":1,"result":2}`,
	`{"result":1,"result":2,"arguments":{"password":"a"},"arguments":{"password":"b"}}`,
	`{"res\u0075lt":"x","arguments":{"pass\u0077ord":1,"p\u0061th":2}}`,
	`{"a\\b":1,"\"":2,"result\n":3,"tok\u0065n":4}`,
	`{"this_is_a_long_key\t":1,"arguments_\u0041":{"password":1}}`,
	`{"result":"abcdefg\\"}`,
	`{"result":"abcdefgh\"ijkl","token":"1234567\""}`,
	`{"x":"\\\\\\\\\\\\\\\\\\\\","result":"\\\\\\\\\\\\\\\"","token":"12345678"}`,
	`{"x":"1234567","y":"12345678","z":"123456789","result":"123456789012345\"6"}`,
	`{"résumé":"ü","result":"日本語","token":"é\"é"}`,
	"{\"result\":\"\x80\xff\x00\x01\x1f\",\"token\":\"\x7f\"}",
	`{"result":[{"a":[1,{"b":"]}"}]}],"token":{"x":[]},"meta":{"k":[{"}":"{"}]}}`,
	`{"result":"$enc:v1.abc.def","meta":{"k":"$enc:v1.x.y","l":"$enc"},"arguments":{"password":"$enc:"},"token":"$en"}`,
	`{"result":null,"token":nul,"meta":{"k":null,"l":nullx}}`,
	`{"result":-0.5E-10,"token":0,"arguments":{"password":1e5}}`,
	`{"result":true,"token":false,"x":{"y":null},"x":{"q":{"y":[true]}}}`,
	`{"arguments":{"path":{"deep":["/etc"]}},"arguments":{"path":"/again"}}`,
	`{"result" : 1 , "token" : 2 }`,
	`{"arguments":{"password":"x"} ,"result":2}`,
	`{"x":{"\u0061":{"y":1},"b":{"y":{"z":[2]}}},"arguments":[{"password":1}]}`,
	`{"\u0061":1}`,
	"{\"a\x01\":1,\"result\":2}",
	"{\"a\\n\x01\":1,\"result\":2}",
	`{"result":"$enc:v1.k.x","a":{"b":"$enc:v1.k.y","c":{"d":"$enc:v1.k.z"}},"e":["$enc:v1.k.w"]}`,

	// Accepted although not JSON: the skimmer trusts ingestion's
	// validation and only finds where values end.
	`{"result":tru,"token":@}`,
	`{"result":{]},"token":1}`,
	`{"result":[}],"token":1}`,
	`{"result":1} xyz`,
	`{"result":1}}`,
	"{\"result\":1\x00}",
	`{"result":"x","token":01}`,

	// Malformed.
	``,
	` `,
	`[]`,
	`["result"]`,
	`"x"`,
	`null`,
	`{`,
	`{ `,
	`{"`,
	`{"result`,
	`{"result"`,
	`{"result":`,
	`{"result": `,
	`{"result":1`,
	`{"result":1,`,
	`{"result":1,}`,
	`{"result" 1}`,
	`{"result":}`,
	`{"result":,"token":1}`,
	`{result:1}`,
	`{"result":1 "token":2}`,
	`{"result":1;"token":2}`,
	`{,}`,
	`{"result":"unterminated}`,
	`{"result":"\"}`,
	`{"result":"x\\\"}`,
	`{"\q":1,"result":2}`,
	`{"\u12":1}`,
	`{"result":"ok","bad`,
	`{"result":{"x":1}`,
	`{"result":[1,2`,
	`{"result":[1,"]`,
	`{"arguments":{"password":"p"`,
	`{"arguments":{"password":"p",}}`,
	`{"result":1,"token":2`,
	`{"result":"x"  `,
	`{"token":"t","arguments":{"password":"p"},"result":{"a":"b"},"x":`,
	`{"result":"` + strings.Repeat("no quote here ", 10),
	`{"result":1}{"token":2}`,
	`{"a":"$enc:v1.k.x`,
	`{"meta":{"k":"$enc:v1.k.x","l":`,
	`{"a":{"b":"$enc:v1.k.x"},"c":[`,
	`{"result":"$enc:v1.k.x"  x}`,
	`{"a":{"b":"$enc:v1.k.x"`,
}

// renderLocate is what locate and encryptedFields return for body, in a
// form a diff shows.
func renderLocate(t testing.TB, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "body %q\n", body)
	for _, fields := range goldenFieldSets {
		f, err := CompileFields(fields)
		if err != nil {
			t.Fatal(err)
		}
		spans, ok := locate(body, f.trie, nil)
		fmt.Fprintf(&b, "  locate %s: %s\n", strings.Join(fields, ","), renderSpans(body, spans, ok))
	}
	spans, ok := encryptedFields(body)
	fmt.Fprintf(&b, "  encryptedFields: %s\n", renderSpans(body, spans, ok))
	return b.String()
}

func renderSpans(body []byte, spans []span, ok bool) string {
	s := "ok"
	if !ok {
		s = "malformed"
	}
	for _, sp := range spans {
		s += fmt.Sprintf(" [%d:%d %q %q]", sp.start, sp.end, sp.path, body[sp.start:sp.end])
	}
	return s
}

// locate and encryptedFields return exactly what testdata/locate.golden
// holds for every body there, malformed ones and the spans found before
// the fault included, so that a change to the skimmer that changes any
// result fails here. Run with -update only for an intended change.
func TestLocateGolden(t *testing.T) {
	var got strings.Builder
	for _, body := range goldenBodies {
		got.WriteString(renderLocate(t, []byte(body)))
	}
	path := filepath.Join("testdata", "locate.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gotLines, wantLines := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		g, w := line(gotLines, i), line(wantLines, i)
		if g != w {
			body := ""
			for j := min(i, len(gotLines)-1); j >= 0 && body == ""; j-- {
				if strings.HasPrefix(gotLines[j], "body ") {
					body = gotLines[j]
				}
			}
			t.Fatalf("locate.golden line %d, %s:\n got %s\nwant %s", i+1, body, g, w)
		}
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end)"
}
