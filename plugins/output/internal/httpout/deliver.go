package httpout

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Item is one record, encoded for the destination, without framing.
type Item struct {
	Index int // the record's index in the batch given to Process
	Data  []byte
}

// Framing is how items join into one request body: Prefix, items separated
// by Sep, Suffix. HEC concatenates ("", "\n", ""); Azure sends a JSON array
// ("[", ",", "]"); Chronicle wraps the array in an object.
type Framing struct {
	Prefix, Sep, Suffix []byte
}

// Size of a body framing n items of total length itemBytes.
func (f Framing) Size(n, itemBytes int) int {
	s := len(f.Prefix) + len(f.Suffix) + itemBytes
	if n > 1 {
		s += (n - 1) * len(f.Sep)
	}
	return s
}

// Body frames items into one request body.
func (f Framing) Body(items []Item) []byte {
	n := 0
	for _, it := range items {
		n += len(it.Data)
	}
	b := make([]byte, 0, f.Size(len(items), n))
	b = append(b, f.Prefix...)
	for i, it := range items {
		if i > 0 {
			b = append(b, f.Sep...)
		}
		b = append(b, it.Data...)
	}
	return append(b, f.Suffix...)
}

// Verdict is what became of a request, or of one item in it.
type Verdict int

const (
	// Delivered: the destination has it.
	Delivered Verdict = iota
	// Retry: transient (429, 5xx, timeout, refused connection); send again later.
	Retry
	// TooLarge: 413; split the request in two and send the halves.
	TooLarge
	// Poison: refused because of bad data in it; isolate the culprit (at
	// Culprit when the destination named it, else by bisection) and deliver the rest.
	Poison
	// Refused: refused for good (bad credentials, unknown stream): every
	// item is dead-lettered with the answer.
	Refused
	// Partial: the destination answered per item, in Items.
	Partial
)

func (v Verdict) String() string {
	return [...]string{"delivered", "retry", "too_large", "poison", "refused", "partial"}[v]
}

// ItemResult is a per-item answer (Delivered, Retry or Refused).
type ItemResult struct {
	Verdict Verdict
	Reason  string
}

// Result is a destination's answer to one request, read by the output.
type Result struct {
	Verdict Verdict
	// Reason is the destination's answer, kept for the dead-letter file and errors.
	Reason string
	// After is the destination's Retry-After.
	After time.Duration
	// Culprit is the position in the request of the item a Poison answer names,
	// when CulpritKnown (HEC's invalid-event-number).
	Culprit      int
	CulpritKnown bool
	// Items holds per-item answers for Partial, parallel to the request's items.
	Items []ItemResult
}

// SendFunc sends one framed body holding items and reads the answer.
type SendFunc func(ctx context.Context, body []byte, items []Item) Result

// Classify maps an HTTP answer to a Result the way most SIEM APIs mean it:
// no answer, 408, 429 and 5xx (but 501) retry, honouring Retry-After; 413
// splits; 400 and 422 blame the data; other 4xx are refusals (credentials,
// permissions, a wrong URL) that no resend will fix.
func Classify(r Reply) Result {
	if r.Err != nil {
		return Result{Verdict: Retry, Reason: r.Err.Error()}
	}
	res := Result{Reason: r.Brief()}
	switch s := r.Status; {
	case s >= 200 && s < 300:
		res.Verdict = Delivered
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || (s >= 500 && s != http.StatusNotImplemented):
		res.Verdict = Retry
		res.After = ParseRetryAfter(r.Header.Get("Retry-After"), time.Now())
	case s == http.StatusRequestEntityTooLarge:
		res.Verdict = TooLarge
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		res.Verdict = Poison
	default:
		res.Verdict = Refused
	}
	return res
}

// Engine delivers a batch's items: it splits them into requests capped by
// bytes (before compression) and count, sends a few at once, and resolves
// every item to delivered, rejected (with the destination's answer) or to be
// retried.
type Engine struct {
	Name        string // "splunk_hec \"soc\"", for errors
	Framing     Framing
	MaxBytes    int
	MaxEvents   int
	Concurrency int
	Send        SendFunc
	// InPlaceRetries resends the same bytes this many times before handing a
	// request back for a later retry. Destinations that dedup by content
	// (Chronicle's batch id) want byte-identical retries.
	InPlaceRetries int
	Backoff        Backoff
	Stats          *Stats
}

// Outcome is the fate of every item of one Deliver.
type Outcome struct {
	Delivered int
	Rejected  []sdk.Rejection
	Retry     []int
	After     time.Duration
	// RetryReason is the last transient answer, for the RetryError message.
	RetryReason string
}

// Finish records the outcome's rejections on out (which may already hold
// the output's own, such as records it could not encode), counts every
// outcome, and returns the error Process should return: nil when everything
// not rejected was delivered, else a RetryError naming exactly the records
// still to retry.
func (e *Engine) Finish(o *Outcome, out *sdk.Batch) error {
	out.Rejected = append(out.Rejected, o.Rejected...)
	if e.Stats != nil {
		e.Stats.Sent.Add(int64(o.Delivered))
		e.Stats.DeadLettered.Add(int64(len(out.Rejected)))
		e.Stats.Retried.Add(int64(len(o.Retry)))
	}
	if len(o.Retry) == 0 {
		return nil
	}
	sort.Ints(o.Retry)
	return &sdk.RetryError{
		Err:     fmt.Errorf("%s: %d records not delivered: %s", e.Name, len(o.Retry), o.RetryReason),
		After:   o.After,
		Indices: o.Retry,
	}
}

// Unconfirm turns delivered items back into retries: for destinations whose
// 2xx is not yet the confirmation (HEC indexer acknowledgement).
func (o *Outcome) Unconfirm(items []Item, reason string) {
	o.Delivered -= len(items)
	for _, it := range items {
		o.Retry = append(o.Retry, it.Index)
	}
	o.RetryReason = reason
}

// Plan splits items into requests under the caps, greedily and in order, so
// that the same items always give the same requests. An item bigger than the
// byte cap travels alone: the destination decides, and a 413 dead-letters it.
func (e *Engine) Plan(items []Item) [][]Item {
	var reqs [][]Item
	start, bytes := 0, 0
	for i, it := range items {
		n := i - start
		if n > 0 && (n >= e.MaxEvents && e.MaxEvents > 0 ||
			e.MaxBytes > 0 && e.Framing.Size(n+1, bytes+len(it.Data)) > e.MaxBytes) {
			reqs = append(reqs, items[start:i])
			start, bytes = i, 0
		}
		bytes += len(it.Data)
	}
	if start < len(items) {
		reqs = append(reqs, items[start:])
	}
	return reqs
}

// Deliver sends items and reports what became of each.
func (e *Engine) Deliver(ctx context.Context, items []Item) *Outcome {
	out := &outcomeCollector{o: &Outcome{}}
	reqs := e.Plan(items)
	workers := max(1, min(e.Concurrency, len(reqs)))
	next := make(chan []Item)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for req := range next {
				e.send(ctx, req, out)
			}
		}()
	}
	for _, req := range reqs {
		next <- req
	}
	close(next)
	wg.Wait()
	return out.o
}

// send resolves one request, recursing into halves on 413 and on poison.
func (e *Engine) send(ctx context.Context, items []Item, out *outcomeCollector) {
	if ctx.Err() != nil {
		out.retry(items, 0, "canceled: "+ctx.Err().Error())
		return
	}
	body := e.Framing.Body(items)
	var res Result
	for attempt := 0; ; attempt++ {
		res = e.Send(ctx, body, items)
		// A Retry-After longer than our own backoff is the destination asking
		// for real quiet: hand it to the host instead of sleeping here.
		if res.Verdict != Retry || attempt >= e.InPlaceRetries || ctx.Err() != nil || res.After > e.Backoff.Max {
			break
		}
		if e.Stats != nil {
			e.Stats.RequestRetries.Add(1)
		}
		if e.Backoff.Wait(ctx, attempt, res.After) != nil {
			break
		}
	}
	switch res.Verdict {
	case Delivered:
		out.delivered(len(items))
	case Retry:
		out.retry(items, res.After, res.Reason)
	case Refused:
		for _, it := range items {
			out.reject(it, res.Reason)
		}
	case TooLarge:
		if len(items) == 1 {
			out.reject(items[0], "too large for the destination: "+res.Reason)
			return
		}
		e.count(func(s *Stats) { s.Splits.Add(1) })
		e.send(ctx, items[:len(items)/2], out)
		e.send(ctx, items[len(items)/2:], out)
	case Poison:
		if len(items) == 1 {
			out.reject(items[0], res.Reason)
			return
		}
		if res.CulpritKnown && res.Culprit >= 0 && res.Culprit < len(items) {
			out.reject(items[res.Culprit], res.Reason)
			rest := make([]Item, 0, len(items)-1)
			rest = append(append(rest, items[:res.Culprit]...), items[res.Culprit+1:]...)
			e.send(ctx, rest, out)
			return
		}
		e.count(func(s *Stats) { s.Bisections.Add(1) })
		e.send(ctx, items[:len(items)/2], out)
		e.send(ctx, items[len(items)/2:], out)
	case Partial:
		if len(res.Items) != len(items) {
			// An answer that does not line up with the request cannot be
			// trusted item by item: resend it all.
			out.retry(items, res.After, fmt.Sprintf("destination answered %d items for %d sent", len(res.Items), len(items)))
			return
		}
		for i, r := range res.Items {
			switch r.Verdict {
			case Delivered:
				out.delivered(1)
			case Retry:
				out.retry(items[i:i+1], res.After, r.Reason)
			default:
				out.reject(items[i], r.Reason)
			}
		}
	}
}

func (e *Engine) count(f func(*Stats)) {
	if e.Stats != nil {
		f(e.Stats)
	}
}

type outcomeCollector struct {
	mu sync.Mutex
	o  *Outcome
}

func (c *outcomeCollector) delivered(n int) {
	c.mu.Lock()
	c.o.Delivered += n
	c.mu.Unlock()
}

func (c *outcomeCollector) retry(items []Item, after time.Duration, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		c.o.Retry = append(c.o.Retry, it.Index)
	}
	c.o.After = max(c.o.After, after)
	c.o.RetryReason = reason
}

func (c *outcomeCollector) reject(it Item, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.o.Rejected = append(c.o.Rejected, sdk.Rejection{Index: it.Index, Reason: strings.TrimSpace(reason)})
}
