package mcp_tap

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/tap"
	"github.com/sentinel-audit/sentinel/sdk"
)

// proxy is the Streamable HTTP / HTTP+SSE reverse proxy. It forwards requests
// and streams responses as they come (FlushInterval -1), and observes a copy.
type proxy struct {
	addr     string
	upstream *url.URL
	tap      *tap.Tap
	rp       *httputil.ReverseProxy
	srv      *http.Server
	log      hclog.Logger
	tokens   *tokenSeen
	hashKey  []byte
	maxBody  int
	gate     bool

	mu       sync.Mutex
	sessions map[string]*tap.Session // by Mcp-Session-Id or legacy sessionId
}

type exchangeKey struct{}

// exchange is one proxied HTTP request: its session, and the client request
// ids it carried (to close them when a 2026-07-28 stream ends without answer).
type exchange struct {
	sess      *tap.Session
	ephemeral bool // a session of this exchange only (stateless or pre-initialize)
	ids       []json.RawMessage
	// resumable: the response stream carried SSE event ids, so the client may
	// resume it (GET + Last-Event-ID) and get its answers on another exchange.
	resumable bool
	// legacy: this is the GET stream of an HTTP+SSE session; its end is the
	// session's end.
	legacy bool
}

func startProxy(cfg Config, t *tap.Tap, hashKey []byte, log hclog.Logger) (*proxy, error) {
	up, err := url.Parse(cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true // pass Accept-Encoding and bodies through as they are
	tr.MaxIdleConnsPerHost = 64
	if cfg.UpstreamCAFile != "" || cfg.UpstreamServerName != "" {
		tc := &tls.Config{ServerName: cfg.UpstreamServerName, MinVersion: tls.VersionTLS12}
		if cfg.UpstreamCAFile != "" {
			pool, err := sdk.CertPool(cfg.UpstreamCAFile)
			if err != nil {
				return nil, fmt.Errorf("upstream_ca_file: %w", err)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	p := &proxy{upstream: up, tap: t, log: log, tokens: newTokenSeen(), hashKey: hashKey,
		maxBody: t.Config().MaxMessage, sessions: map[string]*tap.Session{},
		gate: cfg.Policy != nil && cfg.Policy.Mode == "enforce"}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      tr,
		FlushInterval:  -1,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	p.addr = ln.Addr().String()
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("proxy stopped", "error", err)
		}
	}()
	return p, nil
}

func (p *proxy) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = p.srv.Close() // long-lived SSE streams do not end on their own
	}
	p.mu.Lock()
	for id, s := range p.sessions {
		delete(p.sessions, id)
		s.Close(true, "proxy_shutdown", nil)
	}
	p.mu.Unlock()
	return err
}

// rewrite maps the proxy's paths onto the upstream: "/" and the upstream's
// own path go to the MCP endpoint, anything else to the same path upstream.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	out := pr.Out
	path := pr.In.URL.Path
	if path == "/" || path == "" {
		path = p.upstream.Path
	}
	out.URL.Scheme, out.URL.Host, out.URL.Path, out.URL.RawPath = p.upstream.Scheme, p.upstream.Host, path, ""
	if out.URL.RawQuery == "" {
		out.URL.RawQuery = p.upstream.RawQuery
	}
	out.Host = p.upstream.Host
}

// session finds the session a request belongs to, or starts an ephemeral one.
func (p *proxy) session(r *http.Request, token string) (*tap.Session, bool) {
	key := r.Header.Get("Mcp-Session-Id")
	if key == "" {
		key = legacySessionID(r.URL.Query())
	}
	if key != "" {
		p.mu.Lock()
		s := p.sessions[key]
		if s == nil {
			// a session the proxy did not see start (it restarted): adopt it
			s = p.tap.NewSession(tap.SessionInfo{MCPSessionID: key, SourceIP: clientIP(r), ClientID: clientIP(r),
				TokenHash: token, ProtocolVersion: r.Header.Get("Mcp-Protocol-Version")})
			p.sessions[key] = s
		}
		p.mu.Unlock()
		s.SetProtocolVersion(r.Header.Get("Mcp-Protocol-Version"))
		return s, false
	}
	id := clientIP(r)
	if token != "" {
		id = "token:" + token[:16]
	}
	return p.tap.NewSession(tap.SessionInfo{SourceIP: clientIP(r), ClientID: id, TokenHash: token,
		ProtocolVersion: r.Header.Get("Mcp-Protocol-Version")}), true
}

// legacySessionID is the HTTP+SSE session parameter of a message URL: the
// spec's sessionId, or sessionid as the Go SDK spells it.
func legacySessionID(q url.Values) string {
	if id := q.Get("sessionId"); id != "" {
		return id
	}
	return q.Get("sessionid")
}

func (p *proxy) register(key string, s *tap.Session) {
	s.SetMCPSessionID(key)
	p.mu.Lock()
	p.sessions[key] = s
	p.mu.Unlock()
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, bearer := p.tokenHash(r)
	sess, ephemeral := p.session(r, token)
	p.observeAuth(sess, r, token, bearer)
	ex := &exchange{sess: sess, ephemeral: ephemeral}

	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, int64(p.maxBody)+1))
		if err != nil {
			http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > p.maxBody {
			// too large to judge: observe its head, stream it whole
			sess.Oversize(tap.ClientToServer, body[:min(len(body), 4096)], len(body))
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		} else {
			p.checkHeaders(sess, r, body)
			v := sess.Message(tap.ClientToServer, body)
			if v.Deny && p.gate {
				w.Header().Set("Content-Type", "application/json")
				w.Write(v.Reply)
				if ephemeral {
					sess.Close(false, "denied", nil)
				}
				return
			}
			ex.ids = requestIDs(body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
}

// modifyResponse observes the upstream's answer and wraps its body so the
// stream is parsed as it is forwarded.
func (p *proxy) modifyResponse(resp *http.Response) error {
	ex, _ := resp.Request.Context().Value(exchangeKey{}).(*exchange)
	if ex == nil {
		return nil
	}
	req := resp.Request
	if id := resp.Header.Get("Mcp-Session-Id"); id != "" && ex.ephemeral {
		p.register(id, ex.sess) // initialize answered: the session lives on
		ex.ephemeral = false
	}
	p.observeStatus(ex.sess, req, resp)
	if req.Method == http.MethodDelete && resp.StatusCode < 300 {
		p.endSession(req, "deleted")
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		resp.Body = newSSEObserver(resp.Body, p, ex)
	case strings.HasPrefix(ct, "application/json") && resp.StatusCode < 300:
		resp.Body = newJSONObserver(resp.Body, p, ex)
	default:
		if ex.ephemeral {
			p.finishExchange(ex)
		}
	}
	return nil
}

func (p *proxy) endSession(r *http.Request, reason string) {
	key := r.Header.Get("Mcp-Session-Id")
	if key == "" {
		return
	}
	p.mu.Lock()
	s := p.sessions[key]
	delete(p.sessions, key)
	p.mu.Unlock()
	if s != nil {
		s.Close(true, reason, nil)
	}
}

// finishExchange closes what a finished response left open. In 2026-07-28 a
// response stream that closes without the answer is the cancellation. Before
// it, a disconnect is not a cancel: a stream with event ids can be resumed
// (GET + Last-Event-ID) and the answer arrive on another exchange, so its
// requests stay open (the session's end closes them as no_response if not);
// a stream without ids cannot be resumed, and its requests are lost.
func (p *proxy) finishExchange(ex *exchange) {
	if len(ex.ids) > 0 && (!ex.resumable || ex.sess.Protocol() >= "2026-07-28") {
		for _, id := range ex.ids {
			ex.sess.Cancel(tap.ClientToServer, id, "stream_closed")
		}
	}
	ex.ids = nil
	switch {
	case ex.legacy:
		p.forget(ex.sess)
		ex.sess.Close(true, "stream_closed", nil)
	case ex.ephemeral:
		ex.sess.Close(false, "exchange_end", nil)
	}
}

// forget drops a session from the index, under whatever keys it has.
func (p *proxy) forget(s *tap.Session) {
	p.mu.Lock()
	for k, v := range p.sessions {
		if v == s {
			delete(p.sessions, k)
		}
	}
	p.mu.Unlock()
}

func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	p.log.Warn("upstream unavailable", "error", err, "path", r.URL.Path)
	if ex, _ := r.Context().Value(exchangeKey{}).(*exchange); ex != nil {
		ev := ex.sess.NewEvent("mcp_compliance_events", tap.SeverityMedium)
		ev.Reason, ev.Error, ev.HTTPStatus = "upstream_unavailable", err.Error(), http.StatusBadGateway
		ex.sess.Emit(ev)
		p.finishExchange(ex)
	}
	w.WriteHeader(http.StatusBadGateway)
}

// requestIDs lists the request ids of a posted message or batch.
func requestIDs(body []byte) []json.RawMessage {
	var one struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		var many []struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.Unmarshal(body, &many)
		var ids []json.RawMessage
		for _, m := range many {
			if m.Method != "" && len(m.ID) > 0 {
				ids = append(ids, m.ID)
			}
		}
		return ids
	}
	if json.Unmarshal(body, &one) == nil && one.Method != "" && len(one.ID) > 0 && string(one.ID) != "null" {
		return []json.RawMessage{one.ID}
	}
	return nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// observer bodies ------------------------------------------------------------

// sseObserver parses an SSE response as the proxy copies it to the client.
type sseObserver struct {
	body   io.ReadCloser
	parser *tap.SSEParser
	p      *proxy
	ex     *exchange
	once   sync.Once
}

func newSSEObserver(body io.ReadCloser, p *proxy, ex *exchange) *sseObserver {
	o := &sseObserver{body: body, p: p, ex: ex}
	o.parser = &tap.SSEParser{
		Max: p.maxBody,
		OnEvent: func(e tap.SSEEvent) {
			switch e.Type {
			case "endpoint": // legacy HTTP+SSE: the session id is in the POST URL
				if u, err := url.Parse(strings.TrimSpace(string(e.Data))); err == nil {
					if id := legacySessionID(u.Query()); id != "" {
						p.register(id, ex.sess)
						ex.ephemeral, ex.legacy = false, true
					}
				}
			case "message":
				if len(bytes.TrimSpace(e.Data)) == 0 {
					return // priming event
				}
				ex.sess.Message(tap.ServerToClient, e.Data)
				ex.dropAnswered(e.Data)
			}
		},
		OnOversize: func(head []byte, n int) { ex.sess.Oversize(tap.ServerToClient, head, n) },
	}
	return o
}

func (o *sseObserver) Read(b []byte) (int, error) {
	n, err := o.body.Read(b)
	if n > 0 {
		o.parser.Write(b[:n])
	}
	if err != nil {
		o.done()
	}
	return n, err
}

func (o *sseObserver) Close() error {
	o.done()
	return o.body.Close()
}

func (o *sseObserver) done() {
	o.once.Do(func() {
		o.parser.Flush()
		o.ex.resumable = o.parser.LastEventID() != ""
		o.p.finishExchange(o.ex)
	})
}

// dropAnswered forgets request ids whose response arrived on this stream.
func (ex *exchange) dropAnswered(data []byte) {
	if len(ex.ids) == 0 {
		return
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(data, &m) != nil || m.Method != "" {
		return
	}
	for i, id := range ex.ids {
		if bytes.Equal(id, m.ID) {
			ex.ids = append(ex.ids[:i], ex.ids[i+1:]...)
			return
		}
	}
}

// jsonObserver keeps a JSON response (up to the message limit) and observes it at its end.
type jsonObserver struct {
	body io.ReadCloser
	buf  bytes.Buffer
	size int
	p    *proxy
	ex   *exchange
	once sync.Once
}

func newJSONObserver(body io.ReadCloser, p *proxy, ex *exchange) *jsonObserver {
	return &jsonObserver{body: body, p: p, ex: ex}
}

func (o *jsonObserver) Read(b []byte) (int, error) {
	n, err := o.body.Read(b)
	if n > 0 {
		o.size += n
		if o.buf.Len() < o.p.maxBody {
			o.buf.Write(b[:min(n, o.p.maxBody-o.buf.Len())])
		}
	}
	if err == io.EOF {
		o.done(true)
	}
	return n, err
}

func (o *jsonObserver) Close() error {
	o.done(false)
	return o.body.Close()
}

func (o *jsonObserver) done(complete bool) {
	o.once.Do(func() {
		switch {
		case o.size > o.p.maxBody:
			o.ex.sess.Oversize(tap.ServerToClient, o.buf.Bytes()[:min(o.buf.Len(), 4096)], o.size)
		case complete && o.size > 0:
			o.ex.sess.Message(tap.ServerToClient, o.buf.Bytes())
			o.ex.ids = nil
		}
		o.p.finishExchange(o.ex)
	})
}

// statusText is for events about HTTP answers.
func statusText(code int) string { return strconv.Itoa(code) + " " + http.StatusText(code) }
