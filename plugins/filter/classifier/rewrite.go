package classifier

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/sentinel-audit/sentinel/sdk"
)

// rewrite builds the classified body: set fields replaced in place (or
// appended), fields outside the type's list dropped, result truncated.
func (c *Classifier) rewrite(ev *event, v verdict, pol *typePolicy) []byte {
	set := [numSetKeys]string{v.typJSON, severityJSON(v.severity), v.level.json(), v.compliance.json, v.retention, pol.indexJSON}
	body := ev.body
	// The output is the body less what is dropped, plus what is set; room for
	// that up front spares growing the buffer while writing (a longer set
	// than 256 bytes, from a long index name, only makes it grow once).
	buf := c.out[:0]
	if need := len(body) + 256; cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	w := bodyWriter{body: body, out: append(buf, '{')}
	var done [numSetKeys]bool
	truncated := false
	for i := range ev.members {
		m := &ev.members[i]
		switch pol.actions[m.id] {
		case actDrop:
			continue
		case actSet:
			s := m.id - keyEventType
			if done[s] {
				continue
			}
			done[s] = true
			if string(m.value(body)) != set[s] {
				add(&w, m.key(body), set[s])
				continue
			}
		case actResult:
			if cut, ok := truncate(m.value(body), c.maxResult); ok {
				add(&w, m.key(body), cut)
				truncated = true
				continue
			}
		}
		w.copy(m)
	}
	for s, val := range set {
		if !done[s] {
			add(&w, fixedKeys[keyEventType+keyID(s)], val)
		}
	}
	if truncated {
		add(&w, "result_truncated", "true")
	}
	w.flush()
	out := append(w.out, '}')
	if cap(out) > maxScratch {
		return out // too large to keep as scratch: the record takes the buffer
	}
	c.out = out
	// The body is written in scratch and copied to its exact size: a copy
	// costs about what zeroing a buffer of estimated size would, and the
	// record holds no slack.
	return bytes.Clone(out)
}

// maxScratch bounds the rewrite buffer kept between events, so one huge
// event does not pin its size.
const maxScratch = 64 << 10

// bodyWriter writes the members of an object after its '{'. Members the body
// already holds exactly as they are written (no whitespace) are not copied
// one by one: a run of them is copied with one append.
type bodyWriter struct {
	out        []byte
	body       []byte
	run0, run1 int // body[run0:run1] is a run not yet written
}

// copy writes m as the body has it.
func (w *bodyWriter) copy(m *member) {
	if m.v0 != m.k1+2 { // whitespace around the colon: written afresh
		add(w, m.key(w.body), m.value(w.body))
		return
	}
	start := m.k0 - 1 // the key's opening quote
	if w.run1 > w.run0 && start == w.run1+1 {
		w.run1 = m.v1 // only the comma lies between: the run goes on
		return
	}
	w.flush()
	w.run0, w.run1 = start, m.v1
}

// flush writes the pending run.
func (w *bodyWriter) flush() {
	if w.run1 > w.run0 {
		if len(w.out) > 1 {
			w.out = append(w.out, ',')
		}
		w.out = append(w.out, w.body[w.run0:w.run1]...)
		w.run0, w.run1 = 0, 0
	}
}

// add writes a member from its parts, after the pending run.
func add[K, V []byte | string](w *bodyWriter, key K, val V) {
	w.flush()
	w.out = appendMember(w.out, key, val)
}

// severityJSON quotes a canonical severity.
func severityJSON(s string) string {
	switch s {
	case "info":
		return `"info"`
	case "low":
		return `"low"`
	case "medium":
		return `"medium"`
	case "warning":
		return `"warning"`
	case "high":
		return `"high"`
	case "critical":
		return `"critical"`
	}
	return string(sdk.AppendJSONString(nil, s))
}

// appendMember appends one member to an object being written after its '{';
// the key is copied raw, escapes and all.
func appendMember[K, V []byte | string](out []byte, key K, val V) []byte {
	if len(out) > 1 {
		out = append(out, ',')
	}
	out = append(out, '"')
	out = append(out, key...)
	out = append(out, '"', ':')
	return append(out, val...)
}

// truncate shortens a result to n characters: a string keeps its first n
// characters; an object or array becomes a string of its first n characters
// of JSON text, as the seed's str(result)[:1000] did.
func truncate(raw []byte, n int) ([]byte, bool) {
	if len(raw) <= n {
		return nil, false // the text has no more characters than raw has bytes
	}
	text := aliasString(raw) // only counted and copied
	if s, ok := str(raw); ok {
		text = s
	}
	if utf8.RuneCountInString(text) <= n {
		return nil, false
	}
	cut, i := 0, 0
	for i = range text {
		if cut == n {
			break
		}
		cut++
	}
	b, _ := json.Marshal(text[:i])
	return b, true
}
