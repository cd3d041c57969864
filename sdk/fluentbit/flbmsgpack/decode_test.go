package flbmsgpack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

type decoded struct {
	time   time.Time
	meta   string
	body   string
	hasKey bool
}

func decodeAll(t *testing.T, chunk []byte, watch string) ([]decoded, []Bad, error) {
	t.Helper()
	var d Decoder
	d.WatchKey(watch)
	var out []decoded
	bad, err := d.Decode(chunk, func(e *Event) error {
		if !json.Valid(e.Body) {
			t.Fatalf("body is not valid JSON: %s", e.Body)
		}
		out = append(out, decoded{time: e.Time, meta: string(e.Meta), body: string(e.Body), hasKey: e.HasKey})
		return nil
	})
	return out, bad, err
}

func mustEvent(t *testing.T, dst []byte, ts time.Time, form TimeForm, v2 bool, meta, rec string) []byte {
	t.Helper()
	var m []byte
	if meta != "" {
		m = []byte(meta)
	}
	out, err := AppendEvent(dst, ts, form, v2, m, []byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTimestampEncodingsAndLayouts(t *testing.T) {
	ts := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	rec := `{"event_type":"mcp_tool_execution","n":1}`
	cases := []struct {
		name string
		form TimeForm
		v2   bool
		want time.Time
	}{
		{"event time, legacy", TimeEventTime, false, ts},
		{"event time, v2", TimeEventTime, true, ts},
		{"integer seconds, legacy", TimeInt, false, ts.Truncate(time.Second)},
		{"integer seconds, v2", TimeInt, true, ts.Truncate(time.Second)},
		{"float seconds, legacy", TimeFloat, false, ts},
		{"float seconds, v2", TimeFloat, true, ts},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chunk := mustEvent(t, nil, ts, c.form, c.v2, `{"k":"v"}`, rec)
			got, bad, err := decodeAll(t, chunk, "")
			if err != nil || len(bad) > 0 || len(got) != 1 {
				t.Fatalf("got %v bad %v err %v", got, bad, err)
			}
			if d := got[0].time.Sub(c.want); d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("time %v, want %v", got[0].time, c.want)
			}
			if got[0].body != rec {
				t.Errorf("body %s, want %s", got[0].body, rec)
			}
			if c.v2 && got[0].meta != `{"k":"v"}` {
				t.Errorf("meta %q", got[0].meta)
			}
			if !c.v2 && got[0].meta != "" {
				t.Errorf("legacy event has meta %q", got[0].meta)
			}
		})
	}
}

func TestExt8EventTime(t *testing.T) {
	// Some encoders write the 8-byte EventTime as ext 8 rather than fixext 8.
	chunk := []byte{0x92, 0xc7, 8, 0, 0x68, 0x3c, 0x40, 0x00, 0, 0, 0, 5}
	chunk = AppendMapHeader(chunk, 1)
	chunk = AppendString(chunk, "a")
	chunk = AppendInt(chunk, 1)
	got, bad, err := decodeAll(t, chunk, "")
	if err != nil || len(bad) > 0 || len(got) != 1 {
		t.Fatalf("got %v bad %v err %v", got, bad, err)
	}
	if want := time.Unix(0x683c4000, 5).UTC(); !got[0].time.Equal(want) {
		t.Errorf("time %v, want %v", got[0].time, want)
	}
}

func TestRealEventsRoundTripWithKeyOrder(t *testing.T) {
	f, err := os.Open("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var chunk []byte
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		chunk = mustEvent(t, chunk, time.Unix(1748779200, 0), TimeEventTime, len(lines)%2 == 0, "", sc.Text())
	}
	got, bad, err := decodeAll(t, chunk, "timestamp")
	if err != nil || len(bad) > 0 || len(got) != len(lines) {
		t.Fatalf("got %d bad %v err %v", len(got), bad, err)
	}
	for i, line := range lines {
		var want, have any
		_ = json.Unmarshal([]byte(line), &want)
		if err := json.Unmarshal([]byte(got[i].body), &have); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(want, have) {
			t.Errorf("event %d:\n got %s\nwant %s", i, got[i].body, line)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, []byte(line))
		if compact.String() != got[i].body {
			t.Errorf("event %d: key order or number form changed:\n got %s\nwant %s", i, got[i].body, compact.String())
		}
		if want := strings.Contains(line, `"timestamp"`); got[i].hasKey != want {
			t.Errorf("event %d: hasKey %v, want %v", i, got[i].hasKey, want)
		}
	}
}

func TestValuesBecomeJSON(t *testing.T) {
	rec := func(build func([]byte) []byte) []byte {
		chunk := AppendArrayHeader(nil, 2)
		chunk = AppendTime(chunk, time.Unix(1, 0), TimeInt)
		chunk = AppendMapHeader(chunk, 1)
		chunk = AppendString(chunk, "v")
		return build(chunk)
	}
	cases := []struct {
		name  string
		build func([]byte) []byte
		want  string
	}{
		{"utf-8 binary is a string", func(b []byte) []byte { return AppendBin(b, []byte("plain text")) }, `"plain text"`},
		{"other binary is base64", func(b []byte) []byte { return AppendBin(b, []byte{0xff, 0x00, 0x10}) }, `"/wAQ"`},
		{"event time inside a record", func(b []byte) []byte { return AppendTime(b, time.Unix(1748779200, 5e8), TimeEventTime) }, `"2025-06-01T12:00:00.5Z"`},
		{"unknown ext is base64", func(b []byte) []byte { return append(b, 0xd4, 7, 0x41) }, `"QQ=="`},
		{"negative fixint", func(b []byte) []byte { return AppendInt(b, -5) }, `-5`},
		{"int64 min", func(b []byte) []byte { return AppendInt(b, math.MinInt64) }, `-9223372036854775808`},
		{"uint64 max", func(b []byte) []byte { return append(b, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) }, `18446744073709551615`},
		{"uint8", func(b []byte) []byte { return append(b, 0xcc, 200) }, `200`},
		{"int16", func(b []byte) []byte { return append(b, 0xd1, 0xff, 0x38) }, `-200`},
		{"float32", func(b []byte) []byte { return append(b, 0xca, 0x3f, 0xc0, 0, 0) }, `1.5`},
		{"NaN", func(b []byte) []byte { return AppendFloat(b, math.NaN()) }, `"NaN"`},
		{"-Inf", func(b []byte) []byte { return AppendFloat(b, math.Inf(-1)) }, `"-Inf"`},
		{"big float", func(b []byte) []byte { return AppendFloat(b, 1e300) }, `1e+300`},
		{"nil", AppendNil, `null`},
		{"control characters escaped", func(b []byte) []byte { return AppendString(b, "a\x01\"\\\t\u2028") }, `"a\u0001\"\\\t\u2028"`},
		{"invalid utf-8 replaced", func(b []byte) []byte { return AppendString(b, "ok\xffok") }, `"ok` + "\ufffd" + `ok"`},
		{"long string", func(b []byte) []byte { return AppendString(b, strings.Repeat("x", 70000)) }, `"` + strings.Repeat("x", 70000) + `"`},
		{"non-string map keys", func(b []byte) []byte {
			b = AppendMapHeader(b, 2)
			b = AppendInt(b, 7)
			b = AppendBool(b, true)
			b = AppendBool(b, false)
			return AppendNil(b)
		}, `{"7":true,"false":null}`},
		{"array of maps", func(b []byte) []byte {
			b = AppendArrayHeader(b, 2)
			b = AppendMapHeader(b, 0)
			b = AppendMapHeader(b, 1)
			b = AppendString(b, "x")
			return AppendArrayHeader(b, 0)
		}, `[{},{"x":[]}]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, bad, err := decodeAll(t, rec(c.build), "")
			if err != nil || len(bad) > 0 || len(got) != 1 {
				t.Fatalf("got %v bad %v err %v", got, bad, err)
			}
			if want := `{"v":` + c.want + `}`; got[0].body != want {
				t.Errorf("body %s, want %s", got[0].body, want)
			}
		})
	}
}

func TestMalformedEventsAreReportedAndTheRestDecoded(t *testing.T) {
	ts := time.Unix(1748779200, 0)
	chunk := mustEvent(t, nil, ts, TimeEventTime, false, "", `{"a":1}`)
	notPair := AppendArrayHeader(nil, 3)
	notPair = AppendInt(AppendInt(AppendInt(notPair, 1), 2), 3)
	chunk = append(chunk, notPair...)
	notMap := AppendArrayHeader(nil, 2)
	notMap = AppendString(AppendTime(notMap, ts, TimeInt), "just a string")
	chunk = append(chunk, notMap...)
	badTime := AppendArrayHeader(nil, 2)
	badTime = AppendMapHeader(AppendString(badTime, "yesterday"), 0)
	chunk = append(chunk, badTime...)
	chunk = AppendGroupMarker(chunk, -1)
	chunk = mustEvent(t, chunk, ts, TimeEventTime, true, "", `{"b":2}`)
	chunk = AppendGroupMarker(chunk, -2)

	got, bad, err := decodeAll(t, chunk, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].body != `{"a":1}` || got[1].body != `{"b":2}` {
		t.Errorf("records %v", got)
	}
	if len(bad) != 3 {
		t.Fatalf("bad %v, want 3 (group markers are not bad)", bad)
	}
	if !bytes.Equal(bad[0].Raw, notPair) || !bytes.Equal(bad[1].Raw, notMap) || !bytes.Equal(bad[2].Raw, badTime) {
		t.Errorf("raw bytes of bad events not kept")
	}
}

func TestTruncatedChunkStopsWithError(t *testing.T) {
	ts := time.Unix(1748779200, 0)
	chunk := mustEvent(t, nil, ts, TimeEventTime, false, "", `{"a":1}`)
	whole := len(chunk)
	chunk = mustEvent(t, chunk, ts, TimeEventTime, false, "", `{"b":"some longer value"}`)
	got, _, err := decodeAll(t, chunk[:whole+8], "")
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err %v, want ErrTruncated", err)
	}
	if len(got) != 1 {
		t.Errorf("events before the cut: %d, want 1", len(got))
	}
}

func TestDepthLimit(t *testing.T) {
	chunk := AppendArrayHeader(nil, 2)
	chunk = AppendTime(chunk, time.Unix(1, 0), TimeInt)
	chunk = AppendMapHeader(chunk, 1)
	chunk = AppendString(chunk, "deep")
	for i := 0; i < 100; i++ {
		chunk = AppendArrayHeader(chunk, 1)
	}
	chunk = AppendNil(chunk)
	_, _, err := decodeAll(t, chunk, "")
	if err == nil {
		t.Fatal("100 nested arrays accepted")
	}
}

func FuzzDecode(f *testing.F) {
	ts := time.Unix(1748779200, 0)
	seed, _ := AppendEvent(nil, ts, TimeEventTime, true, nil, []byte(`{"a":[1,{"b":"c"}],"d":1.5}`))
	f.Add(seed)
	seed2, _ := AppendEvent(nil, ts, TimeFloat, false, nil, []byte(`{"x":"y"}`))
	f.Add(seed2)
	f.Add([]byte{0x92, 0xd7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x81, 0xc4, 1, 'k', 0xc7, 3, 9, 1, 2, 3})
	f.Fuzz(func(t *testing.T, chunk []byte) {
		var d Decoder
		_, _ = d.Decode(chunk, func(e *Event) error {
			if !json.Valid(e.Body) {
				t.Fatalf("invalid JSON body %q from %x", e.Body, chunk)
			}
			if e.Meta != nil && !json.Valid(e.Meta) {
				t.Fatalf("invalid JSON meta %q", e.Meta)
			}
			return nil
		})
	})
}

func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	var chunk []byte
	const n = 1000
	for i := 0; i < n; i++ {
		chunk, _ = AppendEvent(chunk, time.Unix(1748779200, int64(i)), TimeEventTime, true, nil, lines[i%len(lines)])
	}
	var d Decoder
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		count := 0
		if _, err := d.Decode(chunk, func(*Event) error { count++; return nil }); err != nil || count != n {
			b.Fatal(err, count)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
