package piitokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/buger/jsonparser"
)

// pathNode is one level of the configured body paths: "arguments" scans the
// whole arguments value; "error.message" scans only message inside error.
type pathNode struct {
	// children are few (a path or two per level), so a linear search by
	// name costs less than hashing every member name of the event.
	children []pathChild
	all      bool
}

type pathChild struct {
	name string
	node *pathNode
}

func (n *pathNode) child(name []byte) *pathNode {
	for _, c := range n.children {
		if c.name == string(name) {
			return c.node
		}
	}
	return nil
}

func buildPaths(paths []string) *pathNode {
	root := &pathNode{}
	for _, p := range paths {
		n := root
		for _, seg := range strings.Split(p, ".") {
			c := n.child([]byte(seg))
			if c == nil {
				c = &pathNode{}
				n.children = append(n.children, pathChild{seg, c})
			}
			n = c
		}
		n.all = true
	}
	return root
}

// edit replaces body[start:end] with repl.
type edit struct {
	start, end int
	repl       []byte
}

const maxDepth = 128

var errDepth = errors.New("JSON nested deeper than 128 levels")

// walker parses one event body in a single pass, scans the string leaves
// under the configured paths, and records edits; the body is rebuilt only
// when a value changed, so events without findings keep their exact bytes.
// It is reused across records to keep the hot path free of allocation.
type walker struct {
	det   *detector
	rep   *replacer
	paths *pathNode

	body     []byte
	edits    []edit
	counts   [numKinds]int
	seen     kindSet // the kinds whose count was touched; the others are 0
	found    []finding
	unesc    []byte
	text     []byte
	scratch  []byte // replacements and the "pii" member of one body; edits point into it
	piiStart int    // value span of an existing top-level "pii" member
	piiEnd   int
	objEnd   int // offset of the top-level closing brace

	// onFinding, when set, sees every finding's type and text (the quality
	// test's hook; nil in production).
	onFinding func(k kind, value string)
}

// process returns the new body (the same slice when nothing changed) and
// whether anything was found.
func (w *walker) process(body []byte) ([]byte, bool, error) {
	for k := range w.seen.all() {
		w.counts[k] = 0
	}
	w.body, w.edits, w.seen, w.scratch = body, w.edits[:0], 0, w.scratch[:0]
	w.piiStart, w.piiEnd, w.objEnd = -1, -1, -1
	pos := w.ws(0)
	if pos >= len(body) || body[pos] != '{' {
		return nil, false, errors.New("event body is not a JSON object")
	}
	end, err := w.object(pos, w.paths, false, kindNone, false, 0, true)
	if err != nil {
		return nil, false, err
	}
	if w.ws(end) != len(body) {
		return nil, false, fmt.Errorf("unexpected data after the event object at offset %d", w.ws(end))
	}
	if w.seen == 0 { // no findings
		return body, false, nil
	}
	return w.rebuild(), true, nil
}

func (w *walker) ws(i int) int {
	for i < len(w.body) {
		// Most events are compact: one compare passes every byte but blanks
		// and control characters.
		if c := w.body[i]; c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return i
		}
		i++
	}
	return i
}

func (w *walker) syntax(i int, want string) error {
	if i >= len(w.body) {
		return fmt.Errorf("invalid JSON: unexpected end, want %s", want)
	}
	return fmt.Errorf("invalid JSON at offset %d: want %s, got %q", i, want, w.body[i])
}

// value walks the value at i. node is the path level (nil once below every
// configured path), scan says the value lies under a configured path, ctx is
// the kind its key implies.
func (w *walker) value(i int, node *pathNode, scan bool, ctx kind, noIP bool, depth int) (int, error) {
	if i >= len(w.body) {
		return i, w.syntax(i, "a value")
	}
	switch c := w.body[i]; c {
	case '{':
		return w.object(i, node, scan, ctx, noIP, depth+1, false)
	case '[':
		if depth+1 > maxDepth {
			return i, errDepth
		}
		i = w.ws(i + 1)
		if i < len(w.body) && w.body[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = w.value(i, node, scan, ctx, noIP, depth+1); err != nil {
				return i, err
			}
			i = w.ws(i)
			if i < len(w.body) && w.body[i] == ',' {
				i = w.ws(i + 1)
				continue
			}
			if i < len(w.body) && w.body[i] == ']' {
				return i + 1, nil
			}
			return i, w.syntax(i, "',' or ']'")
		}
	case '"':
		end, err := w.str(i)
		if err == nil && scan {
			err = w.leaf(i, end, ctx, noIP)
		}
		return end, err
	default:
		j := i
		for j < len(w.body) && (w.body[j] == '-' || w.body[j] == '+' || w.body[j] == '.' || is(w.body[j], cWord)) {
			j++
		}
		if j == i {
			return i, w.syntax(i, "a value")
		}
		return j, nil
	}
}

func (w *walker) object(i int, node *pathNode, scan bool, ctx kind, noIP bool, depth int, top bool) (int, error) {
	if depth > maxDepth {
		return i, errDepth
	}
	i = w.ws(i + 1)
	if i < len(w.body) && w.body[i] == '}' {
		if top {
			w.objEnd = i
		}
		return i + 1, nil
	}
	for {
		if i >= len(w.body) || w.body[i] != '"' {
			return i, w.syntax(i, "a member name")
		}
		kend, err := w.str(i)
		if err != nil {
			return i, err
		}
		key := w.body[i+1 : kend-1]
		i = w.ws(kend)
		if i >= len(w.body) || w.body[i] != ':' {
			return i, w.syntax(i, "':'")
		}
		i = w.ws(i + 1)
		var child *pathNode
		childScan, childCtx, childNoIP := scan, ctx, noIP
		if !scan && node != nil {
			if child = node.child(key); child != nil && child.all {
				childScan = true
			}
		}
		if childScan {
			if k := w.det.keys.lookup(key); k != kindNone {
				childCtx = k
			}
			childNoIP = noIP || isVersionKey(key)
		}
		start := i
		if !childScan && i < len(w.body) && w.body[i] == '"' {
			// Most members are strings outside the scanned paths: their end
			// is all the walk needs, without the dispatch in value.
			i, err = w.str(i)
		} else {
			i, err = w.value(i, child, childScan, childCtx, childNoIP, depth)
		}
		if err != nil {
			return i, err
		}
		if top && string(key) == "pii" {
			w.piiStart, w.piiEnd = start, i
		}
		i = w.ws(i)
		if i < len(w.body) && w.body[i] == ',' {
			i = w.ws(i + 1)
			continue
		}
		if i < len(w.body) && w.body[i] == '}' {
			if top {
				w.objEnd = i
			}
			return i + 1, nil
		}
		return i, w.syntax(i, "',' or '}'")
	}
}

// str returns the offset after the string starting at i. Strings are most
// of an event's bytes, so it finds quotes with bytes.IndexByte (vectorized)
// instead of stepping through escapes: a quote ends the string unless an odd
// run of backslashes comes right before it.
func (w *walker) str(i int) (int, error) {
	for j := i + 1; ; {
		q := bytes.IndexByte(w.body[j:], '"')
		if q < 0 {
			return len(w.body), errUnterminated
		}
		q += j
		if w.body[q-1] != '\\' { // q-1 is at least i, the opening quote
			return q + 1, nil
		}
		n := 1
		for q-n-1 > i && w.body[q-n-1] == '\\' {
			n++
		}
		if n%2 == 0 {
			return q + 1, nil
		}
		j = q + 1
	}
}

var errUnterminated = errors.New("invalid JSON: unterminated string")

// leaf scans one string value (body[start:end], quotes included).
func (w *walker) leaf(start, end int, ctx kind, noIP bool) error {
	raw := w.body[start+1 : end-1]
	if len(raw) == 0 {
		return nil
	}
	if bytes.IndexByte(raw, '\\') >= 0 {
		u, err := jsonparser.Unescape(raw, w.unesc)
		if err != nil {
			return fmt.Errorf("invalid JSON string at offset %d: %w", start, err)
		}
		if len(u) == 0 {
			return nil
		}
		if cap(u) > cap(w.unesc) {
			w.unesc = u[:0]
		}
		raw = u
	}
	// The text aliases the body for the duration of this call only.
	text := unsafe.String(&raw[0], len(raw))
	fs := w.det.scan(text, noIP, w.found[:0])
	if ctx != kindNone {
		fs = applyContext(text, fs, ctx)
	}
	w.found = fs[:0]
	if len(fs) == 0 {
		return nil
	}
	changed := false
	for _, f := range fs {
		if w.onFinding != nil {
			w.onFinding(f.kind, text[f.start:f.end])
		}
		w.counts[f.kind]++
		w.seen.add(f.kind)
		changed = changed || w.rep.actions[f.kind] != actKeep
	}
	if !changed {
		return nil
	}
	out := w.text[:0]
	last := 0
	for _, f := range fs {
		out = append(out, text[last:f.start]...)
		out = w.rep.appendReplacement(out, f.kind, text[f.start:f.end], f.norm)
		last = f.end
	}
	out = append(out, text[last:]...)
	w.text = out[:0]
	w.edits = append(w.edits, edit{start: start, end: end, repl: w.appendScratch(func(b []byte) []byte { return appendJSONString(b, out) })})
	return nil
}

// applyContext: the key says what the value is. A secret key's value is a
// secret whatever it looks like (unless a specific secret was recognized in
// it); a personal-data key's value is that type unless the detectors already
// found that type inside it.
func applyContext(text string, fs []finding, ctx kind) []finding {
	if trivialValue(strings.TrimSpace(text)) {
		return fs
	}
	for _, f := range fs {
		if (ctx.isSecret() && f.kind.isSecret()) || f.kind == ctx {
			return fs
		}
	}
	return append(fs[:0], finding{kind: ctx, start: 0, end: len(text), norm: normalizeWhole(ctx, text)})
}

// normalizeWhole gives a context-typed value the normal form its detector
// would have produced, so "415-555-2671" under "phone" and "+1 415 555 2671"
// in free text can still join.
func normalizeWhole(k kind, v string) string {
	switch k {
	case kindEmail:
		return strings.ToLower(strings.TrimSpace(v))
	case kindSSN, kindCreditCard, kindPhone:
		var b []byte
		for i := 0; i < len(v); i++ {
			if is(v[i], cDigit) || (k == kindPhone && v[i] == '+') {
				b = append(b, v[i])
			}
		}
		return string(b)
	case kindIBAN:
		return strings.ToUpper(strings.ReplaceAll(v, " ", ""))
	}
	return ""
}

// rebuild applies the edits and records the counts in the top-level "pii"
// member, merged with counts an earlier stage left there.
func (w *walker) rebuild() []byte {
	edits := w.edits
	if w.piiStart >= 0 {
		edits = append(edits, edit{start: w.piiStart, end: w.piiEnd, repl: w.appendScratch(w.appendPII)})
	} else {
		sep := ","
		if j := w.lastNonSpace(w.objEnd); j >= 0 && w.body[j] == '{' {
			sep = ""
		}
		ins := w.appendScratch(func(b []byte) []byte { return w.appendPII(append(append(b, sep...), `"pii":`...)) })
		edits = append(edits, edit{start: w.objEnd, end: w.objEnd, repl: ins})
	}
	// The leaves' edits are in body order already; only the "pii" one may
	// need to move. A stable insertion sort keeps that allocation-free.
	for i := len(edits) - 1; i > 0 && edits[i].start < edits[i-1].start; i-- {
		edits[i], edits[i-1] = edits[i-1], edits[i]
	}
	size := len(w.body)
	for _, e := range edits {
		size += len(e.repl) - (e.end - e.start)
	}
	out := make([]byte, 0, size)
	last := 0
	for _, e := range edits {
		out = append(out, w.body[last:e.start]...)
		out = append(out, e.repl...)
		last = e.end
	}
	out = append(out, w.body[last:]...)
	w.edits = edits[:0]
	return out
}

func (w *walker) lastNonSpace(i int) int {
	for i--; i >= 0; i-- {
		if c := w.body[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return -1
}

// appendScratch appends with f to the scratch buffer and returns what f
// wrote. Edits keep such slices; a later growth of the buffer leaves them
// pointing at the old array, whose bytes no longer change.
func (w *walker) appendScratch(f func([]byte) []byte) []byte {
	start := len(w.scratch)
	w.scratch = f(w.scratch)
	return w.scratch[start:len(w.scratch):len(w.scratch)]
}

// maxEarlierCount caps a count taken from an earlier "pii" member, so that
// no sum of them can overflow.
const maxEarlierCount = 1 << 30

// appendPII writes {"email":2,...} in canonical type order; counts from an
// earlier "pii" member are added, and names this version does not know kept.
func (w *walker) appendPII(out []byte) []byte {
	merged := w.counts
	var foreign map[string]int
	if w.piiStart >= 0 {
		var prev map[string]int
		if json.Unmarshal(w.body[w.piiStart:w.piiEnd], &prev) == nil {
			for name, n := range prev {
				if k, ok := kindByName(name); ok {
					if n <= 0 {
						continue // a count below one came from the client, not from a tokenizer: dropped, never subtracted
					}
					merged[k] += min(n, maxEarlierCount)
					w.seen.add(k)
				} else {
					if foreign == nil {
						foreign = map[string]int{}
					}
					foreign[name] = n
				}
			}
		}
	}
	w.counts = merged
	out = append(out, '{')
	first := true
	for k := kindEmail; k < numKinds; k++ {
		if merged[k] == 0 {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(append(append(out, '"'), k.String()...), '"') // type names need no escaping
		out = append(out, ':')
		out = strconv.AppendInt(out, int64(merged[k]), 10)
	}
	if len(foreign) == 0 {
		return append(out, '}')
	}
	names := make([]string, 0, len(foreign))
	for name := range foreign {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendJSONString(out, []byte(name))
		out = append(out, ':')
		out = strconv.AppendInt(out, int64(foreign[name]), 10)
	}
	return append(out, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString encodes s as a JSON string. Bytes are copied as they are
// (the text came out of valid JSON), only quotes, backslashes and control
// characters are escaped; the runs between them are copied whole.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	last := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[last:i]...)
		last = i + 1
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	dst = append(dst, s[last:]...)
	return append(dst, '"')
}
