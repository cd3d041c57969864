package flbconfig

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sentinel-audit/sentinel/plugins/builtin"
	"github.com/sentinel-audit/sentinel/plugins/filter/encryptor"
	"github.com/sentinel-audit/sentinel/plugins/output/splunk_hec"
	"github.com/sentinel-audit/sentinel/sdk"
)

func TestConvertEachType(t *testing.T) {
	cases := []struct {
		typ  sdk.Type
		in   string
		want any
	}{
		{sdk.TypeString, "a b", "a b"},
		{sdk.TypeInt, "42", int64(42)},
		{sdk.TypeFloat, "0.25", 0.25},
		{sdk.TypeBool, "On", true},
		{sdk.TypeBool, "no", false},
		{sdk.TypeBool, "1", true},
		{sdk.TypeDuration, "30s", "30s"},
		{sdk.TypeDuration, "7d", "7d"},
		{sdk.TypeDuration, "5", "5s"},
		{sdk.TypeDuration, "1.5", "1.5s"},
		{sdk.TypeSize, "5M", "5242880"},
		{sdk.TypeSize, "64k", "65536"},
		{sdk.TypeSize, "1mib", "1048576"},
		{sdk.TypeSize, "2MB", "2000000"},
		{sdk.TypeSize, "1000000", "1000000"},
		{sdk.TypeStringList, "a, b,,c ", []string{"a", "b", "c"}},
		{sdk.TypeStringList, `["x,y","z"]`, []string{"x,y", "z"}},
		{sdk.TypeStringMap, "team=soc, env = prod", map[string]string{"team": "soc", "env": "prod"}},
		{sdk.TypeStringMap, `{"X-Note":"a,b=c"}`, map[string]string{"X-Note": "a,b=c"}},
		{sdk.TypeBlockList, `[{"name":"x"}]`, []map[string]any{{"name": "x"}}},
	}
	for _, c := range cases {
		t.Run(string(c.typ)+" "+c.in, func(t *testing.T) {
			got, err := Convert(sdk.Field{Name: "f", Type: c.typ}, c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestConvertRejectsBadValues(t *testing.T) {
	for _, c := range []struct {
		typ sdk.Type
		in  string
	}{
		{sdk.TypeInt, "4.5"}, {sdk.TypeInt, "many"}, {sdk.TypeFloat, "x"}, {sdk.TypeBool, "maybe"},
		{sdk.TypeDuration, "soon"}, {sdk.TypeDuration, "-5"}, {sdk.TypeSize, "big"},
		{sdk.TypeStringList, `["unterminated`}, {sdk.TypeStringMap, "novalue"}, {sdk.TypeBlockList, "x"},
	} {
		if _, err := Convert(sdk.Field{Name: "f", Type: c.typ}, c.in); err == nil {
			t.Errorf("%s %q accepted", c.typ, c.in)
		}
	}
}

func TestNoPluginKeyIsReservedByFluentBit(t *testing.T) {
	defs := append(builtin.All(), encryptor.Definition)
	for _, d := range defs {
		if d.Kind == sdk.KindInput {
			continue
		}
		for _, k := range Keys(d.Config) {
			if IsReserved(k.Name) {
				t.Errorf("%s: key %q is Fluent Bit's own", d.Name, k.Name)
			}
		}
	}
	for _, k := range []string{"Host", "tls", "tls.verify", "net.keepalive", "storage.total_limit_size", "Workers", "Match", "Retry_Limit"} {
		if !IsReserved(k) {
			t.Errorf("%q not treated as reserved", k)
		}
	}
}

func TestKeysFlattenBlocks(t *testing.T) {
	var names []string
	for _, k := range Keys(splunk_hec.Definition.Config) {
		names = append(names, k.Name)
	}
	joined := "," + strings.Join(names, ",") + ","
	for _, want := range []string{"endpoint", "token", "tls_ca_file", "tls_server_name", "tls_insecure_skip_verify", "tls_verify", "max_request_bytes", "headers"} {
		if !strings.Contains(joined, ","+want+",") {
			t.Errorf("no key %q in %v", want, names)
		}
	}
	if strings.Contains(joined, ",tls,") {
		t.Error("the tls block itself became a key")
	}
}

func lookup(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDecodeSplunkSectionAppliesDefaultsAndTypes(t *testing.T) {
	raw, err := Decode(splunk_hec.Definition.Config, lookup(map[string]string{
		"endpoint":           "https://splunk.example.com:8088",
		"token":              "00000000-0000-0000-0000-000000000000",
		"indexed_fields":     "event_type, severity",
		"max_request_events": "500",
		"max_request_bytes":  "512k",
		"timeout":            "10",
		"ack":                "on",
		"tls_ca_file":        "/etc/ssl/splunk.pem",
		"tls_verify":         "off",
		"headers":            "X-Team=soc",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"endpoint": "https://splunk.example.com:8088", "indexed_fields": []any{"event_type", "severity"},
		"max_request_events": 500.0, "max_request_bytes": "524288", "timeout": "10s", "ack": true,
		"tls":         map[string]any{"ca_file": "/etc/ssl/splunk.pem", "insecure_skip_verify": true},
		"headers":     map[string]any{"X-Team": "soc"},
		"sourcetype":  "mcp:audit", // a default
		"compression": "gzip",      // a default
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	// The result decodes into the plugin's own config struct.
	var cfg splunk_hec.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("plugin config does not decode: %v", err)
	}
}

func TestDecodeErrorsNameTheFluentBitKey(t *testing.T) {
	cases := []struct {
		name string
		keys map[string]string
		want string
	}{
		{"missing required", map[string]string{"endpoint": "https://x"}, `missing required key "token"`},
		{"bad int", map[string]string{"endpoint": "https://x", "token": "t", "concurrency": "lots"}, `key "concurrency"`},
		{"bad enum", map[string]string{"endpoint": "https://x", "token": "t", "compression": "zstd"}, `compression`},
		{"bad duration", map[string]string{"endpoint": "https://x", "token": "t", "timeout": "later"}, `key "timeout"`},
		{"two keys for one field", map[string]string{"endpoint": "https://x", "token": "t", "tls_verify": "on", "tls_insecure_skip_verify": "on"}, `set the same thing`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(splunk_hec.Definition.Config, lookup(c.keys))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v, want it to mention %s", err, c.want)
			}
		})
	}
}
