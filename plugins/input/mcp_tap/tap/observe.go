package tap

import (
	"sync"
	"sync/atomic"
)

// Observer takes the bytes a pump forwarded and observes them on its own
// goroutine, so that the byte path never waits on parsing, on the session's
// lock, on event encoding or on the sink, and never allocates (chunk copies
// come from a pool). It never blocks its writer: when observation falls more
// than MaxBacklog bytes behind, the bytes beyond are not observed, and the gap
// is recorded (an mcp_compliance_events event with the byte count, and the
// framer resynchronises at the next newline), never dropped silently.
type Observer struct {
	s      *Session
	dir    Direction
	framer *LineFramer
	max    int64

	chunks  chan chunk
	backlog atomic.Int64 // bytes queued, not yet observed
	lost    atomic.Int64 // bytes not queued since the last queued chunk
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// DefaultMaxBacklog bounds the bytes an observer may fall behind.
const DefaultMaxBacklog = 32 << 20

// chunkQueue bounds queued chunks; the byte backlog normally binds first.
const chunkQueue = 4096

type chunk struct {
	buf *[]byte
	n   int
	gap int // bytes left unobserved just before this chunk
}

// small chunks (the usual MCP line) and read-sized ones come from separate
// pools so a small message does not hold a 64 KiB buffer.
const smallChunk = 4 << 10

var (
	smallPool = sync.Pool{New: func() any { b := make([]byte, smallChunk); return &b }}
	largePool = sync.Pool{New: func() any { b := make([]byte, pumpBuffer); return &b }}
)

// NewObserver starts observing the direction dir of s.
func NewObserver(s *Session, dir Direction) *Observer {
	o := &Observer{s: s, dir: dir, max: DefaultMaxBacklog, chunks: make(chan chunk, chunkQueue),
		stop: make(chan struct{}), done: make(chan struct{})}
	o.framer = &LineFramer{
		Max:        s.t.cfg.MaxMessage,
		OnLine:     func(l []byte) { s.Message(dir, l) },
		OnOversize: func(p []byte, n int) { s.Oversize(dir, p, n) },
	}
	go o.run()
	return o
}

// Write queues a copy of p for observation; it never blocks. Only one
// goroutine may call Write; bytes written after Close are not observed.
func (o *Observer) Write(p []byte) {
	for len(p) > 0 {
		n := min(len(p), pumpBuffer)
		o.queue(p[:n])
		p = p[n:]
	}
}

func (o *Observer) queue(p []byte) {
	if o.backlog.Load()+int64(len(p)) > o.max {
		o.lost.Add(int64(len(p)))
		return
	}
	pool := &smallPool
	if len(p) > smallChunk {
		pool = &largePool
	}
	buf := pool.Get().(*[]byte)
	n := copy(*buf, p)
	o.backlog.Add(int64(n))
	select {
	case o.chunks <- chunk{buf: buf, n: n, gap: int(o.lost.Swap(0))}:
	default:
		o.backlog.Add(-int64(n))
		pool.Put(buf)
		o.lost.Add(int64(n))
	}
}

// Close ends observation: what was queued before it is still observed (wait
// for it with Wait). Any goroutine may call it, any number of times.
func (o *Observer) Close() { o.once.Do(func() { close(o.stop) }) }

// Wait returns once everything queued before Close has been observed.
func (o *Observer) Wait() { <-o.done }

func (o *Observer) run() {
	defer close(o.done)
	for {
		select {
		case c := <-o.chunks:
			o.observe(c)
			continue
		case <-o.stop:
		}
		break
	}
	for { // the chunks queued before Close
		select {
		case c := <-o.chunks:
			o.observe(c)
			continue
		default:
		}
		break
	}
	if n := o.lost.Swap(0); n > 0 {
		o.gap(int(n)) // the tail went by unobserved: say so at the end
	}
	o.framer.Flush()
}

func (o *Observer) observe(c chunk) {
	if c.gap > 0 {
		o.gap(c.gap)
	}
	o.framer.Write((*c.buf)[:c.n])
	o.backlog.Add(-int64(c.n))
	if cap(*c.buf) > smallChunk {
		largePool.Put(c.buf)
	} else {
		smallPool.Put(c.buf)
	}
}

// gap records bytes that went by unobserved and drops the line they cut.
func (o *Observer) gap(n int) {
	o.framer.Resync()
	o.s.Gap(o.dir, n)
}
