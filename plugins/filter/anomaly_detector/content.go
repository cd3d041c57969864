package anomaly_detector

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/buger/jsonparser"

	"github.com/sentinel-audit/sentinel/sdk"
)

// content holds the content detectors: they look inside one event (tool
// descriptions, arguments, results, token use) rather than at rates.
type content struct {
	cfg          *Config
	tokenServers *lru[map[string]struct{}] // token hash → servers it was presented to
	shadowSeen   *lru[struct{}]            // unknown servers already reported
}

// maxServersPerToken bounds the servers remembered for one token.
const maxServersPerToken = 16

// maxFindings caps the matches listed in one alert.
const maxFindings = 10

func newContent(cfg *Config) *content {
	return &content{
		cfg:          cfg,
		tokenServers: newLRU(cfg.MaxKeys, func() map[string]struct{} { return map[string]struct{}{} }),
		shadowSeen:   newLRU(cfg.MaxKeys, func() struct{} { return struct{}{} }),
	}
}

// finding is one match: where in the event and what kind. Never the matched
// text itself for secrets: the alert is stored and shipped like any event.
type finding struct {
	Path        string `json:"path"`
	Kind        string `json:"kind"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

var (
	// Instruction markers seen in poisoned tool descriptions and injected tool output.
	instructionMarkers = regexp.MustCompile(`(?i)(<\s*/?\s*(important|system|instructions?|secret)\s*>` +
		`|ignore (all |any )?(previous|prior|above) (instructions|prompts?)` +
		`|do not (tell|inform|mention|reveal|show)[^.]{0,40}\b(user|human)` +
		`|(before|after) (using|calling) this tool[^.]{0,60}\b(read|send|call|include|pass)` +
		`|\b(read|cat|open|send|include|upload)\b[^.]{0,40}(~/\.ssh|id_rsa|\.aws/credentials|\.env\b|/etc/passwd|mcp\.json)` +
		`|you (must|should) (now )?(always )?(call|use|invoke) the tool)`)
	pathTraversal = regexp.MustCompile(`(?i)(^|[/\\=\s"'])\.\.[/\\]|%2e%2e(%2f|%5c|/|\\)|\.\.%2f|\.\.%5c`)
	commandChain  = regexp.MustCompile(`(;|&&|\|\||\|)\s*(rm|curl|wget|sh|bash|zsh|nc|ncat|python3?|perl|chmod|chown|cat|powershell|cmd|mkfifo|dd|base64)\b`)
	commandSubst  = regexp.MustCompile("\\$\\([^)]+\\)|`[^`]+`|\\$\\{[^}]*IFS[^}]*\\}")
	sensitivePath = regexp.MustCompile(`(?i)(/etc/(passwd|shadow|sudoers)|~/\.ssh/|/\.ssh/id_|\.aws/credentials|/proc/self/environ)`)
	ssrfTarget    = regexp.MustCompile(`(?i)(169\.254\.169\.254|metadata\.google\.internal|100\.100\.100\.200|\[fd00:ec2::254\])`)

	secretPatterns = []struct {
		kind string
		hint func(s string) bool // cheap test that must hold before the regexp runs
		re   *regexp.Regexp
	}{
		{"aws_access_key", has("AKIA", "ASIA"), regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
		{"github_token", has("gh", "github_pat_"), regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}\b`)},
		{"slack_token", has("xox"), regexp.MustCompile(`\bxox[baprs]-[A-Za-z0-9-]{10,}\b`)},
		{"google_api_key", has("AIza"), regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}\b`)},
		{"stripe_key", has("_live_"), regexp.MustCompile(`\b[sr]k_live_[0-9A-Za-z]{20,}\b`)},
		{"openai_key", has("sk-"), regexp.MustCompile(`\bsk-(proj-)?[A-Za-z0-9_\-]{32,}\b`)},
		{"private_key", has("PRIVATE KEY"), regexp.MustCompile(`-----BEGIN ([A-Z]+ )?PRIVATE KEY-----`)},
		{"password_assignment", hasFold("pass", "pwd", "secret", "key", "token"), regexp.MustCompile(`(?i)\b(password|passwd|pwd|secret|api[_-]?key|access[_-]?token)\s*[:=]\s*["']?[^\s"']{8,}`)},
	}
	injectionPatterns = []struct {
		kind string
		hint func(s string) bool
		re   *regexp.Regexp
	}{
		{"path_traversal", func(s string) bool { return strings.Contains(s, "..") || hasFold("%2e")(s) }, pathTraversal},
		{"command_chaining", func(s string) bool { return strings.ContainsAny(s, ";&|") }, commandChain},
		{"command_substitution", has("$(", "`", "${"), commandSubst},
		{"sensitive_path", has("/etc/", ".ssh", ".aws", "/proc/"), sensitivePath},
		{"ssrf_metadata", hasFold("169.254.", "metadata.google", "100.100.100.200", "fd00:ec2"), ssrfTarget},
	}
	bearerToken = regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{16,}=*`)
	jwtToken    = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b`)
	secretKeys  = regexp.MustCompile(`(?i)^(password|passwd|secret|client_secret|api[_-]?key|private[_-]?key|access[_-]?token|refresh[_-]?token|authorization)$`)
)

// invisible reports a character that renders as nothing or reorders text:
// zero-width and bidirectional controls, word joiners, the BOM inside text,
// and Unicode tag characters (which smuggle ASCII invisibly).
func invisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x2064,
		r >= 0x2066 && r <= 0x2069, r == 0xFEFF, r == 0x00AD, r == 0x180E, r >= 0xE0000 && r <= 0xE007F:
		return true
	}
	return false
}

func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// observe runs every enabled content detector on e.
func (c *content) observe(e *event, raise func(*threat)) {
	cfg := c.cfg
	if *cfg.ToolPoisoning {
		c.poisoning(e, raise)
	}
	if len(e.Arguments) > 0 && (*cfg.Injection || *cfg.Secrets || *cfg.TokenPassthrough) {
		c.arguments(e, raise)
	}
	if *cfg.TokenPassthrough {
		c.tokenReuse(e, raise)
		c.audience(e, raise)
	}
	if len(cfg.KnownServers) > 0 && e.Server != "" {
		c.shadow(e, raise)
	}
}

func (c *content) contentThreat(e *event, reason, category, owasp, severity string, confidence float64, fs []finding) *threat {
	ev := evidence{Count: len(fs), Key: "event:" + e.id}
	ev.span(e.mark(), e.mark())
	if len(fs) > maxFindings {
		fs = fs[:maxFindings]
	}
	return &threat{reason: reason, category: category, owasp: owasp, severity: severity, confidence: confidence,
		src: e, at: e.at, evidence: ev, details: map[string]any{"findings": fs, "source_event_type": e.Type}}
}

// poisoning scans tool descriptions (wherever an event carries them) for
// hidden instructions and invisible characters, and tool results for
// injected instructions.
func (c *content) poisoning(e *event, raise func(*threat)) {
	var fs []finding
	scan := func(path, text string) {
		for i, r := range text {
			if invisible(r) {
				fs = append(fs, finding{Path: path, Kind: "invisible_unicode:U+" + strings.ToUpper(strconv.FormatInt(int64(r), 16)) + "@" + strconv.Itoa(i)})
				break
			}
		}
		if m := instructionMarkers.FindString(text); m != "" {
			fs = append(fs, finding{Path: path, Kind: "hidden_instruction", Fingerprint: truncateRunes(m, 80)})
		}
	}
	if e.Description != "" {
		scan("description", e.Description)
	}
	if len(e.Details) > 0 {
		eachDescription(e.Details, "details", scan)
	}
	if len(fs) > 0 {
		raise(c.contentThreat(e, "tool_poisoning", "tool_poisoning", "MCP03", "high", 0.85, fs))
	}
	if e.Type != sdk.EventToolExecution || len(e.Result) == 0 {
		return
	}
	fs = nil
	walkStrings(e.Result, "result", func(path, s string) {
		if !instructionHint(s) {
			return
		}
		if m := instructionMarkers.FindString(s); m != "" {
			fs = append(fs, finding{Path: path, Kind: "injected_instruction", Fingerprint: truncateRunes(m, 80)})
		}
	})
	if len(fs) > 0 {
		raise(c.contentThreat(e, "tool_output_injection", "prompt_injection", "MCP06", "medium", 0.7, fs))
	}
}

// eachDescription finds "description" strings anywhere under details (a tool
// definition, a list of them, a changed definition's new text).
func eachDescription(raw json.RawMessage, path string, fn func(path, text string)) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return
	}
	var walk func(p string, v any, depth int)
	walk = func(p string, v any, depth int) {
		if depth > 8 {
			return
		}
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				if s, ok := x.(string); ok && (k == "description" || k == "title" || k == "instructions") {
					fn(p+"."+k, s)
					continue
				}
				walk(p+"."+k, x, depth+1)
			}
		case []any:
			for i, x := range t {
				walk(p+"["+strconv.Itoa(i)+"]", x, depth+1)
			}
		}
	}
	walk(path, v, 0)
}

// walkStrings calls fn for every string in a JSON value with its path, and
// for the value of every secret-named field (marked with a prefix). It walks
// the bytes with jsonparser: no tree is built on the hot path.
func walkStrings(raw json.RawMessage, path string, fn func(path, s string)) {
	v, vt, _, err := jsonparser.Get(raw)
	if err != nil {
		return
	}
	walkValue(v, vt, path, fn, 0)
}

func walkValue(v []byte, vt jsonparser.ValueType, path string, fn func(path, s string), depth int) {
	if depth > 16 {
		return
	}
	switch vt {
	case jsonparser.String:
		s, err := jsonparser.ParseString(v)
		if err == nil {
			fn(path, s)
		}
	case jsonparser.Object:
		_ = jsonparser.ObjectEach(v, func(k, x []byte, xt jsonparser.ValueType, _ int) error {
			p := path + "." + string(k)
			if xt == jsonparser.String && secretKeys.Match(k) && len(x) > 0 {
				if s, err := jsonparser.ParseString(x); err == nil {
					fn(p, "\x00secret-key\x00"+s)
				}
			}
			walkValue(x, xt, p, fn, depth+1)
			return nil
		})
	case jsonparser.Array:
		i := 0
		_, _ = jsonparser.ArrayEach(v, func(x []byte, xt jsonparser.ValueType, _ int, _ error) {
			walkValue(x, xt, path+"["+strconv.Itoa(i)+"]", fn, depth+1)
			i++
		})
	}
}

// arguments scans tool-call arguments for injection, secrets and forwarded tokens.
func (c *content) arguments(e *event, raise func(*threat)) {
	cfg := c.cfg
	var inj, sec, tok []finding
	walkStrings(e.Arguments, "arguments", func(path, s string) {
		if rest, ok := strings.CutPrefix(s, "\x00secret-key\x00"); ok {
			if *cfg.Secrets && !strings.HasPrefix(rest, "tok_") && !strings.HasPrefix(rest, "$enc:") {
				sec = append(sec, finding{Path: path, Kind: "secret_field", Fingerprint: fingerprint(rest)})
			}
			return
		}
		if *cfg.Injection {
			for _, p := range injectionPatterns {
				if p.hint(s) && p.re.MatchString(s) {
					inj = append(inj, finding{Path: path, Kind: p.kind})
				}
			}
		}
		if *cfg.TokenPassthrough {
			for _, re := range []*regexp.Regexp{bearerToken, jwtToken} {
				if !hasFold("bearer", "eyj")(s) {
					break
				}
				if m := re.FindString(s); m != "" {
					tok = append(tok, finding{Path: path, Kind: "bearer_token_in_arguments", Fingerprint: fingerprint(m)})
					return // a token is not also reported as a generic secret
				}
			}
		}
		if *cfg.Secrets {
			for _, p := range secretPatterns {
				if !p.hint(s) {
					continue
				}
				if m := p.re.FindString(s); m != "" {
					sec = append(sec, finding{Path: path, Kind: p.kind, Fingerprint: fingerprint(m)})
				}
			}
		}
	})
	if len(inj) > 0 {
		sev := "high"
		raise(c.contentThreat(e, "argument_injection", "command_injection", "MCP05", sev, 0.75, inj))
	}
	if len(sec) > 0 {
		raise(c.contentThreat(e, "secret_in_arguments", "secret_exposure", "MCP01", "high", 0.8, sec))
	}
	if len(tok) > 0 {
		raise(c.contentThreat(e, "token_passthrough", "token_passthrough", "MCP01", "high", 0.85, tok))
	}
}

// tokenReuse flags one client's bearer token (by its keyed hash) presented to
// a second server: a token meant for one audience forwarded upstream.
func (c *content) tokenReuse(e *event, raise func(*threat)) {
	if e.TokenHash == "" || e.Server == "" {
		return
	}
	servers := c.tokenServers.get(e.TokenHash)
	if _, known := servers[e.Server]; known || len(servers) >= maxServersPerToken {
		return
	}
	servers[e.Server] = struct{}{}
	if len(servers) < 2 {
		return
	}
	others := make([]string, 0, len(servers)-1)
	for s := range servers {
		if s != e.Server {
			others = append(others, s)
		}
	}
	ev := evidence{Count: len(servers), Key: "token:" + e.TokenHash}
	ev.span(e.mark(), e.mark())
	raise(&threat{reason: "token_passthrough", category: "token_passthrough", owasp: "MCP01", severity: "high",
		confidence: 0.75, src: e, at: e.at, evidence: ev,
		details: map[string]any{"token_hash": e.TokenHash, "servers_before": sortStrings(others)}})
}

// audience flags a token whose aud claim names neither this endpoint nor an
// allowed audience: the server accepts (or forwards) a token not issued for it.
func (c *content) audience(e *event, raise func(*threat)) {
	if e.Type != sdk.EventOAuth2TokenUsage || len(e.Details) == 0 {
		return
	}
	var d struct {
		Claims struct {
			Aud any `json:"aud"`
		} `json:"claims"`
	}
	if json.Unmarshal(e.Details, &d) != nil || d.Claims.Aud == nil {
		return
	}
	var auds []string
	switch a := d.Claims.Aud.(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				auds = append(auds, s)
			}
		}
	}
	allowed := append([]string(nil), c.cfg.TokenAudiences...)
	if e.MCPEndpoint != "" {
		allowed = append(allowed, e.MCPEndpoint)
	}
	if len(allowed) == 0 {
		return // nothing to compare with
	}
	for _, a := range auds {
		for _, ok := range allowed {
			if a == ok || strings.TrimRight(a, "/") == strings.TrimRight(ok, "/") || matchAny([]string{ok}, a) {
				return
			}
		}
	}
	ev := evidence{Count: 1, Key: "token:" + e.TokenHash}
	ev.span(e.mark(), e.mark())
	raise(&threat{reason: "token_audience_mismatch", category: "token_passthrough", owasp: "MCP07", severity: "high",
		confidence: 0.8, src: e, at: e.at, evidence: ev,
		details: map[string]any{"token_audiences": auds, "expected": allowed}})
}

// shadow flags the first event from a server outside the known inventory.
func (c *content) shadow(e *event, raise func(*threat)) {
	if matchAny(c.cfg.KnownServers, e.Server) {
		return
	}
	if _, seen := c.shadowSeen.peek(e.Server); seen {
		return
	}
	c.shadowSeen.get(e.Server)
	ev := evidence{Count: 1, Key: "server:" + e.Server}
	ev.span(e.mark(), e.mark())
	raise(&threat{reason: "shadow_server", category: "shadow_server", owasp: "MCP09", severity: "medium",
		confidence: 0.7, src: e, at: e.at, evidence: ev,
		details: map[string]any{"known_servers": c.cfg.KnownServers}})
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// has returns a test for any of the substrings, case-sensitive.
func has(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
}

// hasFold returns a test for any of the lower-case substrings, ignoring case.
func hasFold(subs ...string) func(string) bool {
	return func(s string) bool {
		for _, sub := range subs {
			if containsFold(s, sub) {
				return true
			}
		}
		return false
	}
}

// containsFold reports whether s holds sub (lower-case ASCII) in any case,
// without allocating a lowered copy of s.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// instructionHint gates the instruction regexp on words every marker has.
var instructionHint = hasFold("<", "ignore", "do not", "this tool", "read", "cat", "open", "send", "include", "upload", "you must", "you should")
