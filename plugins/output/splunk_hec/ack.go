package splunk_hec

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
)

// pendingAcks maps the ackIds of accepted requests to their items.
type pendingAcks struct {
	mu   sync.Mutex
	byID map[int64][]httpout.Item
}

func (p *pendingAcks) add(id int64, its []httpout.Item) {
	if id < 0 {
		return
	}
	p.mu.Lock()
	p.byID[id] = its
	p.mu.Unlock()
}

type ackStats struct {
	confirmed, timedOut, noAckID atomic.Int64
}

// awaitAcks polls /services/collector/ack until every pending ackId is
// confirmed or ack_timeout passes. Items whose ack never came are handed back
// for a resend: at least once, so Splunk may index them twice.
func (o *Output) awaitAcks(ctx context.Context, p *pendingAcks, outcome *httpout.Outcome) {
	if len(p.byID) == 0 {
		return
	}
	deadline := time.Now().Add(o.cfg.AckTimeout.Std())
	interval := o.cfg.AckPollInterval.Std()
	poll := httpout.Backoff{Initial: interval, Max: interval}
	for attempt := 0; len(p.byID) > 0; attempt++ {
		// Uniform in [interval/2, interval]: many outputs polling one Splunk spread out.
		wait := max(poll.Delay(0), interval/2)
		if time.Now().Add(wait).After(deadline) {
			wait = time.Until(deadline)
		}
		if httpout.Sleep(ctx, wait) != nil {
			break
		}
		done, disabled, err := o.queryAcks(ctx, p.ids())
		if disabled {
			// 400 code 14: the token does not do acks after all. Splunk
			// accepted the requests with 200; that is all we can know.
			o.log.Warn("HEC says acknowledgement is disabled for this token; treating 200 as delivered")
			o.acks.noAckID.Add(int64(len(p.byID)))
			return
		}
		if err != nil {
			o.log.Debug("ack poll failed", "error", err)
		}
		for _, id := range done {
			delete(p.byID, id)
			o.acks.confirmed.Add(1)
		}
		if time.Now().After(deadline) {
			break
		}
	}
	for _, its := range p.byID {
		o.acks.timedOut.Add(1)
		outcome.Unconfirm(its, fmt.Sprintf("no indexer acknowledgement within %s", o.cfg.AckTimeout.Std()))
	}
}

func (p *pendingAcks) ids() []int64 {
	ids := make([]int64, 0, len(p.byID))
	for id := range p.byID {
		ids = append(ids, id)
	}
	return ids
}

// queryAcks asks which ackIds are indexed.
func (o *Output) queryAcks(ctx context.Context, ids []int64) (done []int64, disabled bool, err error) {
	body, _ := json.Marshal(map[string][]int64{"acks": ids})
	u := o.cfg.baseURL() + "/services/collector/ack?channel=" + url.QueryEscape(o.channel)
	h := http.Header{"Authorization": {o.auth}, "Content-Type": {"application/json"}, "X-Splunk-Request-Channel": {o.channel}}
	r := o.client.DoPlain(ctx, http.MethodPost, u, h, body)
	if r.Err != nil {
		return nil, false, r.Err
	}
	if r.Status != http.StatusOK {
		var hr hecReply
		if json.Unmarshal(r.Body, &hr) == nil && hr.Code != nil && *hr.Code == 14 {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("ack query: %s", r.Brief())
	}
	var resp struct {
		Acks map[string]bool `json:"acks"`
	}
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		return nil, false, fmt.Errorf("ack query: %w", err)
	}
	for k, ok := range resp.Acks {
		if id, err := strconv.ParseInt(k, 10, 64); err == nil && ok {
			done = append(done, id)
		}
	}
	return done, false, nil
}
