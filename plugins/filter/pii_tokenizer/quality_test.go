package piitokenizer

import (
	"fmt"
	"strings"
	"testing"
)

// TestCorpusQuality measures precision and recall per type over the labelled
// corpus: a finding counts as a true positive when a gold label has the same
// type and text; any other finding is a false positive of its type; a gold
// label nobody found is a false negative of its type.
func TestCorpusQuality(t *testing.T) {
	tk := newTestTokenizer(t, nil)
	tp, fp, fn := map[string]int{}, map[string]int{}, map[string]int{}
	var nPII, nLook, lookFlagged int
	var misses []string
	for _, c := range readCorpus(t) {
		gold := map[label]int{}
		for _, l := range c.PII {
			gold[l]++
		}
		nPII += len(c.PII)
		nLook += len(c.Lookalikes)
		var found []label
		// v aliases a buffer the walker reuses, so keep a copy
		tk.walker.onFinding = func(k kind, v string) { found = append(found, label{k.String(), strings.Clone(v)}) }
		if _, _, err := tk.walker.process(c.Event); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		for _, l := range found {
			if gold[l] > 0 {
				gold[l]--
				tp[l.Type]++
				continue
			}
			fp[l.Type]++
			misses = append(misses, fmt.Sprintf("%s: false %s %q", c.Name, l.Type, l.Value))
			for _, la := range c.Lookalikes {
				if strings.Contains(la, l.Value) || strings.Contains(l.Value, la) {
					lookFlagged++
				}
			}
		}
		for l, n := range gold {
			if n > 0 {
				fn[l.Type] += n
				misses = append(misses, fmt.Sprintf("%s: missed %s %q", c.Name, l.Type, l.Value))
			}
		}
	}
	if nPII < 300 || nLook < 300 {
		t.Fatalf("corpus too small: %d PII values, %d look-alikes (want at least 300 each)", nPII, nLook)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| type | gold | found | TP | FP | FN | precision | recall |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
	failed := false
	for _, name := range KindNames() {
		p, r := ratio(tp[name], tp[name]+fp[name]), ratio(tp[name], tp[name]+fn[name])
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.3f | %.3f |\n", name, tp[name]+fn[name], tp[name]+fp[name], tp[name], fp[name], fn[name], p, r)
		if tp[name]+fn[name] == 0 {
			t.Errorf("type %s has no labelled values in the corpus", name)
		}
		if p < 0.95 || r < 0.95 {
			failed = true
		}
	}
	fmt.Fprintf(&b, "\n%d PII values, %d look-alikes, %d look-alikes flagged\n", nPII, nLook, lookFlagged)
	t.Log(b.String())
	for _, m := range misses {
		t.Log(m)
	}
	if failed {
		t.Fatal("precision or recall below 0.95 for at least one type")
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
