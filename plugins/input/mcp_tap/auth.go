package mcp_tap

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/input/mcp_tap/tap"
	"github.com/sentinel-audit/sentinel/sdk"
)

// tokenUsageInterval is how often one token's use in one session is recorded:
// often enough to show it is live, rarely enough not to double the event rate.
const tokenUsageInterval = 5 * time.Minute

// tokenSeen remembers when a (token, session) pair was last recorded.
type tokenSeen struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func newTokenSeen() *tokenSeen { return &tokenSeen{last: map[string]time.Time{}} }

func (t *tokenSeen) due(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.last[key]; ok && now.Sub(at) < tokenUsageInterval {
		return false
	}
	if len(t.last) > 50000 {
		t.last = map[string]time.Time{}
	}
	t.last[key] = now
	return true
}

// tokenHash fingerprints the request's bearer token with the keyed hash; the
// token itself never leaves this function except as the caller's local.
func (p *proxy) tokenHash(r *http.Request) (hash, bearer string) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", ""
	}
	bearer = strings.TrimSpace(h[7:])
	if bearer == "" {
		return "", ""
	}
	m := hmac.New(sha256.New, p.hashKey)
	m.Write([]byte(bearer))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))[:32], bearer
}

// observeAuth records token use, tokens in query strings and OAuth discovery.
func (p *proxy) observeAuth(sess *tap.Session, r *http.Request, hash, bearer string) {
	if hash != "" && p.tokens.due(hash+"|"+sess.ID()+"|"+r.Header.Get("Mcp-Session-Id"), time.Now()) {
		ev := sess.NewEvent(sdk.EventOAuth2TokenUsage, tap.SeverityInfo)
		ev.Action = "bearer_token_used"
		ev.Details = map[string]any{"token_type": "bearer"}
		if claims := jwtClaims(bearer); claims != nil {
			ev.Details["claims"] = claims
		}
		ev.Method = r.Method
		ev.Details["path"] = r.URL.Path
		sess.Emit(ev)
	}
	q := r.URL.Query()
	for _, k := range []string{"access_token", "token", "api_key"} {
		if q.Has(k) {
			ev := sess.NewEvent(sdk.EventPolicyViolations, tap.SeverityHigh)
			ev.Reason = "token_in_query"
			ev.Details = map[string]any{"parameter": k, "path": r.URL.Path}
			sess.Emit(ev)
		}
	}
	if strings.HasPrefix(r.URL.Path, "/.well-known/oauth-") || strings.HasPrefix(r.URL.Path, "/.well-known/openid-") {
		ev := sess.NewEvent(sdk.EventAuthentication, tap.SeverityInfo)
		ev.Action, ev.Reason = "oauth_discovery", r.URL.Path
		sess.Emit(ev)
	}
}

// jwtClaims reads the identifying claims of a JWT without verifying it (the
// server does that); opaque tokens have none.
func jwtClaims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var all map[string]any
	if json.Unmarshal(raw, &all) != nil {
		return nil
	}
	out := map[string]any{}
	for _, k := range []string{"iss", "sub", "aud", "scope", "scp", "exp", "iat", "jti", "client_id", "azp"} {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

// observeStatus records HTTP answers that matter to an audit: auth challenges
// and refusals, expired sessions, upstream throttling.
func (p *proxy) observeStatus(sess *tap.Session, req *http.Request, resp *http.Response) {
	code := resp.StatusCode
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		ev := sess.NewEvent(sdk.EventAuthentication, tap.SeverityLow)
		ev.HTTPStatus = code
		ev.Success = new(bool)
		ev.Action = "authentication_required"
		if code == http.StatusForbidden {
			ev.Action, ev.Severity = "forbidden", tap.SeverityMedium
		}
		details := map[string]any{"status": statusText(code), "path": req.URL.Path}
		if wa := resp.Header.Get("WWW-Authenticate"); wa != "" {
			ch := parseChallenge(wa)
			details["challenge"] = ch
			if ch["error"] == "insufficient_scope" {
				ev.Action = "insufficient_scope"
			}
		}
		ev.Details = details
		sess.Emit(ev)
	case code == http.StatusNotFound && req.Header.Get("Mcp-Session-Id") != "":
		p.endSession(req, "session_expired")
	case code == http.StatusTooManyRequests:
		ev := sess.NewEvent(sdk.EventRateLimiting, tap.SeverityMedium)
		ev.HTTPStatus, ev.Reason, ev.Action = code, "upstream_rate_limited", "rejected"
		ev.Details = map[string]any{"retry_after": resp.Header.Get("Retry-After")}
		sess.Emit(ev)
	case code >= 400:
		ev := sess.NewEvent(sdk.EventPolicyViolations, tap.SeverityLow)
		ev.HTTPStatus, ev.Reason = code, "http_error"
		ev.Details = map[string]any{"status": statusText(code), "http_method": req.Method, "path": req.URL.Path}
		sess.Emit(ev)
	}
}

// parseChallenge reads the auth-params of a WWW-Authenticate Bearer challenge.
func parseChallenge(h string) map[string]string {
	out := map[string]string{}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	out["scheme"] = scheme
	for rest != "" {
		rest = strings.TrimLeft(rest, " ,")
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		k = strings.TrimSpace(k)
		if strings.HasPrefix(v, `"`) {
			end := strings.Index(v[1:], `"`)
			if end < 0 {
				out[k] = v[1:]
				break
			}
			out[k], rest = v[1:1+end], v[2+end:]
		} else {
			val, r, _ := strings.Cut(v, ",")
			out[k], rest = strings.TrimSpace(val), r
		}
	}
	return out
}

// checkHeaders compares the 2026-07-28 routing headers with the body: a proxy
// or server routing on Mcp-Method/Mcp-Name must see the truth.
func (p *proxy) checkHeaders(sess *tap.Session, r *http.Request, body []byte) {
	hm, hn := r.Header.Get("Mcp-Method"), r.Header.Get("Mcp-Name")
	if hm == "" && hn == "" {
		return
	}
	var m struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
			URI  string `json:"uri"`
		} `json:"params"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) || json.Unmarshal(body, &m) != nil {
		return
	}
	name := m.Params.Name
	if name == "" {
		name = m.Params.URI
	}
	if strings.HasPrefix(hn, "=?base64?") && strings.HasSuffix(hn, "?=") {
		if dec, err := base64.StdEncoding.DecodeString(hn[9 : len(hn)-2]); err == nil {
			hn = string(dec)
		}
	}
	if (hm != "" && hm != m.Method) || (hn != "" && hn != name) {
		ev := sess.NewEvent(sdk.EventPolicyViolations, tap.SeverityMedium)
		ev.Reason, ev.Method, ev.MethodName = "header_mismatch", m.Method, m.Method
		ev.Details = map[string]any{"mcp_method_header": hm, "mcp_name_header": hn, "body_name": name}
		sess.Emit(ev)
	}
}
