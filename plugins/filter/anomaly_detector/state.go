package anomaly_detector

import (
	"container/list"
	"time"
)

// lru is a map capped at max entries that evicts the least recently used key,
// so that a flood of distinct clients, IPs or tools cannot grow memory without
// bound. Evictions are counted so get_status can show the cap is biting.
type lru[V any] struct {
	max     int
	order   *list.List // front = most recently used
	items   map[string]*list.Element
	evicted uint64
	newV    func() V
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int, newV func() V) *lru[V] {
	return &lru[V]{max: max, order: list.New(), items: make(map[string]*list.Element), newV: newV}
}

// getBytes is get for a key built in a scratch buffer: a key already
// present costs no allocation.
func (l *lru[V]) getBytes(key []byte) V {
	if el, ok := l.items[string(key)]; ok {
		l.order.MoveToFront(el)
		return el.Value.(*lruEntry[V]).val
	}
	return l.get(string(key))
}

// get returns the value of key, creating it (and evicting the oldest key when
// full) if it is absent.
func (l *lru[V]) get(key string) V {
	if el, ok := l.items[key]; ok {
		l.order.MoveToFront(el)
		return el.Value.(*lruEntry[V]).val
	}
	if l.order.Len() >= l.max {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.items, oldest.Value.(*lruEntry[V]).key)
		l.evicted++
	}
	e := &lruEntry[V]{key: key, val: l.newV()}
	l.items[key] = l.order.PushFront(e)
	return e.val
}

// peek returns the value of key without creating it or touching its recency.
func (l *lru[V]) peek(key string) (V, bool) {
	if el, ok := l.items[key]; ok {
		return el.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

func (l *lru[V]) len() int { return l.order.Len() }

// each visits every entry, most recent first.
func (l *lru[V]) each(fn func(key string, v V)) {
	for el := l.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*lruEntry[V])
		fn(e.key, e.val)
	}
}

// mark is one piece of evidence: an event's id and time.
type mark struct {
	id string
	at time.Time
}

// burst answers "have n events happened within d?" holding only the last n
// marks, so its memory is fixed by the threshold, not by the event rate.
type burst struct {
	ring []mark
	next int
	full bool
}

func newBurst(n int) *burst { return &burst{ring: make([]mark, n)} }

// add records an event and, when it completes n events within d, returns the
// evidence (oldest and newest mark) and starts over, so that one burst raises
// one alert and the next alert needs n fresh events.
func (b *burst) add(m mark, d time.Duration) (first, last mark, fired bool) {
	b.ring[b.next] = m
	b.next = (b.next + 1) % len(b.ring)
	if b.next == 0 {
		b.full = true
	}
	if !b.full {
		return mark{}, mark{}, false
	}
	oldest := b.ring[b.next] // the slot to be overwritten next holds the oldest mark
	if m.at.Sub(oldest.at) > d {
		return mark{}, mark{}, false
	}
	b.next, b.full = 0, false
	return oldest, m, true
}

// outcome is one call's result for error-rate tracking.
type outcome struct {
	mark
	failed bool
}

// rateWindow keeps the last cap outcomes to judge an error rate over a window.
type rateWindow struct {
	ring  []outcome
	next  int
	count int
}

func newRateWindow(n int) *rateWindow { return &rateWindow{ring: make([]outcome, n)} }

func (w *rateWindow) add(o outcome) {
	w.ring[w.next] = o
	w.next = (w.next + 1) % len(w.ring)
	if w.count < len(w.ring) {
		w.count++
	}
}

// within summarises the outcomes no older than d before now: total, failures,
// and the first and last failure marks.
func (w *rateWindow) within(now time.Time, d time.Duration) (total, failed int, first, last mark) {
	for i := 0; i < w.count; i++ {
		o := w.ring[(w.next-1-i+len(w.ring))%len(w.ring)] // newest first
		if now.Sub(o.at) > d {
			break
		}
		total++
		if o.failed {
			failed++
			if last.id == "" {
				last = o.mark
			}
			first = o.mark
		}
	}
	return total, failed, first, last
}

func (w *rateWindow) reset() { w.next, w.count = 0, 0 }
