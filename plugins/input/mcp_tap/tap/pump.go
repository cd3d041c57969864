package tap

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// pumpBuffer is the read size of the stdio byte path: large enough that a
// multi-MB message moves in few syscalls, small enough to stay in cache.
const pumpBuffer = 64 << 10

// ClientWriter is the wrapper's stdout toward the MCP client. The server's
// bytes pass through it unchanged; in enforce mode the tap's own JSON-RPC
// error replies are slipped in, but only between lines, never inside one.
type ClientWriter struct {
	mu       sync.Mutex
	w        io.Writer
	boundary bool
	queued   [][]byte
	err      error
}

// NewClientWriter wraps the client-facing writer.
func NewClientWriter(w io.Writer) *ClientWriter { return &ClientWriter{w: w, boundary: true} }

// Write forwards server bytes.
func (c *ClientWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
		return n, err
	}
	if len(p) > 0 {
		c.boundary = p[len(p)-1] == '\n'
	}
	if c.boundary {
		c.flushQueued()
	}
	return n, nil
}

// Inject writes one line of the tap's own, at the next line boundary.
func (c *ClientWriter) Inject(line []byte) {
	msg := append(append(make([]byte, 0, len(line)+1), line...), '\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued = append(c.queued, msg)
	if c.boundary && c.err == nil {
		c.flushQueued()
	}
}

func (c *ClientWriter) flushQueued() {
	for _, q := range c.queued {
		if _, err := c.w.Write(q); err != nil {
			c.err = err
			return
		}
	}
	c.queued = c.queued[:0]
}

// Ordering: each chunk is forwarded first and handed to an Observer after,
// which parses it on its own goroutine: observation adds nothing to the round
// trip, and the pump never allocates, parses or takes the session's lock. A
// fast peer's answer can therefore be observed before its request; the
// Session parks such a response until the request shows up.

// PumpServerToClient copies the server's stdout to the client unchanged and
// queues it for obs. It returns at EOF (nil) or on the first error; obs is
// closed then, and finishes observing in the background (obs.Wait).
func PumpServerToClient(dst *ClientWriter, src io.Reader, obs *Observer) error {
	defer obs.Close()
	return pump(dst, src, obs)
}

func pump(dst io.Writer, src io.Reader, obs *Observer) error {
	buf := make([]byte, pumpBuffer)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return err
			}
			obs.Write(buf[:n]) // after forwarding: see the comment on ordering
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			return rerr
		}
	}
}

// PumpClientToServer copies the client's stdin to the server. In audit mode
// (gate false) bytes go out as they are read and are observed by obs. With
// gate set (policy enforce mode), each complete line is judged before it is
// forwarded, so a denied tools/call never reaches the server and the client
// gets reply's JSON-RPC error instead; that judgement is on the byte path by
// design, and obs is unused. A line longer than the message limit cannot be
// judged and is streamed through. obs is closed when the pump returns.
func PumpClientToServer(dst io.Writer, src io.Reader, s *Session, gate bool, reply func([]byte), obs *Observer) error {
	defer obs.Close()
	if !gate {
		return pump(dst, src, obs)
	}
	g := &gateState{dst: dst, s: s, reply: reply, max: s.t.cfg.MaxMessage}
	buf := make([]byte, pumpBuffer)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if err := g.feed(buf[:n]); err != nil {
				return err
			}
		}
		if rerr != nil {
			if err := g.end(); err != nil {
				return err
			}
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			return rerr
		}
	}
}

// gateState holds a partial line until it is complete and judged.
type gateState struct {
	dst     io.Writer
	s       *Session
	reply   func([]byte)
	max     int
	partial []byte
	// streaming: the current line outgrew max and is being passed through
	streaming bool
	streamed  int
}

func (g *gateState) feed(p []byte) error {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if g.streaming {
			end := len(p)
			if i >= 0 {
				end = i + 1
			}
			if _, err := g.dst.Write(p[:end]); err != nil {
				return err
			}
			g.streamed += end
			if i < 0 {
				return nil
			}
			g.s.Oversize(ClientToServer, g.partial, g.streamed-1)
			g.streaming, g.streamed, g.partial = false, 0, g.partial[:0]
			p = p[end:]
			continue
		}
		if i < 0 {
			if len(g.partial)+len(p) > g.max {
				// too long to judge: forward what we hold and stream the rest
				if _, err := g.dst.Write(g.partial); err != nil {
					return err
				}
				if _, err := g.dst.Write(p); err != nil {
					return err
				}
				g.streaming, g.streamed = true, len(g.partial)+len(p)
				g.partial = g.partial[:min(len(g.partial), sniffPrefix)] // keep the head to sniff id and method
				g.partial = append(g.partial, p[:min(len(p), sniffPrefix-len(g.partial))]...)
				return nil
			}
			g.partial = append(g.partial, p...)
			return nil
		}
		line := p[:i+1]
		if len(g.partial) > 0 {
			g.partial = append(g.partial, line...)
			line = g.partial
		}
		if err := g.judge(line); err != nil {
			return err
		}
		g.partial = g.partial[:0]
		p = p[i+1:]
	}
	return nil
}

// judge forwards or refuses one complete line (newline included).
func (g *gateState) judge(line []byte) error {
	body := bytes.TrimRight(line, "\r\n")
	if len(bytes.TrimSpace(body)) == 0 {
		_, err := g.dst.Write(line)
		return err
	}
	if len(body) > g.max {
		g.s.Oversize(ClientToServer, body[:min(len(body), sniffPrefix)], len(body))
		_, err := g.dst.Write(line)
		return err
	}
	v := g.s.Message(ClientToServer, body)
	if v.Deny {
		g.reply(v.Reply)
		return nil
	}
	_, err := g.dst.Write(line)
	return err
}

func (g *gateState) end() error {
	if g.streaming {
		g.s.Oversize(ClientToServer, g.partial, g.streamed)
		return nil
	}
	if len(g.partial) > 0 {
		return g.judge(g.partial)
	}
	return nil
}
