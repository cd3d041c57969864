package anomaly_detector

import "testing"

// getBytes finds the entry get made and, for a new key, keeps its own copy:
// the caller's scratch buffer changes afterwards.
func TestLRUGetBytesSharesEntriesWithGet(t *testing.T) {
	l := newLRU(2, func() *int { return new(int) })
	*l.get("crm/lookup") = 7
	key := []byte("crm/lookup")
	if v := l.getBytes(key); *v != 7 || l.len() != 1 {
		t.Fatalf("value %d, len %d", *v, l.len())
	}
	copy(key, "crm/search")
	*l.getBytes(key) = 9
	copy(key, "xxxxxxxxxx") // the scratch buffer is reused
	if *l.get("crm/search") != 9 || *l.get("crm/lookup") != 7 || l.len() != 2 {
		t.Fatal("entries lost or keyed by the scratch buffer")
	}
	l.getBytes([]byte("third"))
	if l.evicted != 1 || l.len() != 2 {
		t.Fatalf("evicted %d, len %d", l.evicted, l.len())
	}
}
