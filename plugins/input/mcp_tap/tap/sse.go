package tap

import "bytes"

// SSEEvent is one dispatched server-sent event.
type SSEEvent struct {
	Type string // "message" when the stream gave none
	ID   string
	Data []byte
}

// SSEParser reads a text/event-stream incrementally, as it is streamed to the
// client, and hands each complete event to OnEvent. Data beyond Max bytes is
// cut and reported through OnOversize.
type SSEParser struct {
	Max        int
	OnEvent    func(SSEEvent)
	OnOversize func(prefix []byte, size int)

	line     []byte
	data     []byte
	dataLen  int
	hasData  bool
	evType   string
	id       string
	overflow bool
}

// Write feeds streamed bytes.
func (p *SSEParser) Write(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.line = append(p.line, b...)
			if len(p.line) > p.max()+sniffPrefix {
				// a single field line beyond any sane size: keep counting, not storing
				p.dataLen += len(p.line)
				p.overflow = true
				p.line = p.line[:0]
			}
			return
		}
		var l []byte
		if len(p.line) > 0 {
			p.line = append(p.line, b[:i]...)
			l = p.line
		} else {
			l = b[:i]
		}
		p.field(bytes.TrimSuffix(l, []byte{'\r'}))
		p.line = p.line[:0]
		b = b[i+1:]
	}
}

// LastEventID is the last event id the stream set (a priming event's too):
// a client that saw one can resume the stream from it.
func (p *SSEParser) LastEventID() string { return p.id }

// Flush dispatches a pending event when the stream ends without a blank line.
func (p *SSEParser) Flush() {
	if len(p.line) > 0 {
		p.field(bytes.TrimSuffix(p.line, []byte{'\r'}))
		p.line = p.line[:0]
	}
	p.dispatch()
}

func (p *SSEParser) max() int {
	if p.Max <= 0 {
		return DefaultMaxMessage
	}
	return p.Max
}

func (p *SSEParser) field(l []byte) {
	if len(l) == 0 {
		p.dispatch()
		return
	}
	if l[0] == ':' {
		return // comment / keep-alive
	}
	name, value := l, []byte(nil)
	if i := bytes.IndexByte(l, ':'); i >= 0 {
		name, value = l[:i], l[i+1:]
		value = bytes.TrimPrefix(value, []byte{' '})
	}
	switch string(name) {
	case "event":
		p.evType = string(value)
	case "id":
		p.id = string(value)
	case "data":
		if p.hasData {
			p.appendData([]byte{'\n'})
		}
		p.hasData = true
		p.appendData(value)
	}
}

func (p *SSEParser) appendData(v []byte) {
	p.dataLen += len(v)
	if p.overflow || len(p.data)+len(v) > p.max() {
		if !p.overflow && len(p.data) < sniffPrefix {
			p.data = append(p.data, v[:min(len(v), sniffPrefix-len(p.data))]...)
		}
		p.overflow = true
		return
	}
	p.data = append(p.data, v...)
}

func (p *SSEParser) dispatch() {
	if p.hasData || p.overflow {
		ev := SSEEvent{Type: p.evType, ID: p.id, Data: p.data}
		if ev.Type == "" {
			ev.Type = "message"
		}
		if p.overflow {
			if p.OnOversize != nil {
				p.OnOversize(p.data, p.dataLen)
			}
		} else if p.OnEvent != nil {
			p.OnEvent(ev)
		}
	}
	p.data, p.dataLen, p.hasData, p.evType, p.overflow = p.data[:0], 0, false, "", false
	// the id persists across events per the SSE spec (last event id)
}
