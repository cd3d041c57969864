package httpout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Token is an OAuth2 access token and when it stops working.
type Token struct {
	AccessToken string
	Expiry      time.Time
}

// TokenError is a failed token request. Permanent ones (a wrong client
// secret, an unknown tenant) will not heal by retrying.
type TokenError struct {
	Err       error
	Permanent bool
}

func (e *TokenError) Error() string { return e.Err.Error() }
func (e *TokenError) Unwrap() error { return e.Err }

// TokenCache holds one access token and fetches a new one shortly before
// it expires, once for all concurrent requests.
type TokenCache struct {
	Fetch func(ctx context.Context) (Token, error)
	// Early is how long before expiry a token is replaced (default 5 min).
	Early time.Duration
	mu    sync.Mutex
	tok   Token
}

// Get returns a valid token, fetching one when needed.
func (c *TokenCache) Get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	early := c.Early
	if early == 0 {
		early = 5 * time.Minute
	}
	if c.tok.AccessToken != "" && time.Now().Add(early).Before(c.tok.Expiry) {
		return c.tok.AccessToken, nil
	}
	t, err := c.Fetch(ctx)
	if err != nil {
		return "", err
	}
	c.tok = t
	return t.AccessToken, nil
}

// Invalidate drops the cached token, after the destination refused it.
func (c *TokenCache) Invalidate() {
	c.mu.Lock()
	c.tok = Token{}
	c.mu.Unlock()
}

// PostTokenForm sends an OAuth2 token request (RFC 6749 §4.4 client
// credentials, RFC 7523 JWT bearer) and reads the standard answer.
func PostTokenForm(ctx context.Context, c *Client, tokenURL string, form url.Values) (Token, error) {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	r := c.DoPlain(ctx, http.MethodPost, tokenURL, h, []byte(form.Encode()))
	if r.Err != nil {
		return Token{}, &TokenError{Err: fmt.Errorf("token endpoint %s: %w", tokenURL, r.Err)}
	}
	if r.Status != http.StatusOK {
		// 400 invalid_client/invalid_grant, 401: the credentials are wrong.
		permanent := r.Status >= 400 && r.Status < 500 && r.Status != http.StatusTooManyRequests && r.Status != http.StatusRequestTimeout
		return Token{}, &TokenError{Err: fmt.Errorf("token endpoint %s: %s", tokenURL, r.Brief()), Permanent: permanent}
	}
	var resp struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"` // a number, or a string at some endpoints
	}
	if err := json.Unmarshal(r.Body, &resp); err != nil || resp.AccessToken == "" {
		return Token{}, &TokenError{Err: fmt.Errorf("token endpoint %s: no access_token in answer", tokenURL)}
	}
	secs := 3600.0
	if s := strings.Trim(string(resp.ExpiresIn), `"`); s != "" {
		fmt.Sscan(s, &secs)
	}
	return Token{AccessToken: resp.AccessToken, Expiry: time.Now().Add(time.Duration(secs * float64(time.Second)))}, nil
}

// TokenResult turns a token failure into the verdict for a request that
// could not be sent.
func TokenResult(err error) Result {
	var te *TokenError
	if errors.As(err, &te) && te.Permanent {
		return Result{Verdict: Refused, Reason: err.Error()}
	}
	return Result{Verdict: Retry, Reason: err.Error()}
}
