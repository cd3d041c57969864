package piitokenizer

import "testing"

// Any text scans without a panic, into findings that lie inside it, in
// order and apart: a panic in a detector would fail the whole batch its
// value came in.
func FuzzScan(f *testing.F) {
	for _, s := range []string{"(12", "call (212) 555-0188", "+44 20 7946 0958", "078-05-1123",
		"4012888888881881", "info@presidio.site", "Authorization: Bearer abc123456789", "192.168.0.1",
		"fe80::1", "GB82 WEST 1234 5698 7654 32", "redis://:pw@h:1", "password=x"} {
		f.Add(s)
	}
	d := &detector{regions: defaultPhoneRegions, keys: newKeyContext(nil)}
	f.Fuzz(func(t *testing.T, s string) {
		end := 0
		for _, fd := range d.scan(s, false, nil) {
			if fd.start < end || fd.end <= fd.start || fd.end > len(s) {
				t.Fatalf("scan(%q): finding [%d,%d) after %d", s, fd.start, fd.end, end)
			}
			end = fd.end
		}
	})
}
