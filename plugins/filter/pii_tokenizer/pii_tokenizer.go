// Package piitokenizer is the pii_tokenizer filter: it finds personal data
// and secrets in the string leaves of audit events (tool arguments and
// results by default) and replaces them with deterministic keyed tokens,
// masks, redaction markers or keyed hashes, recording per-type counts.
package piitokenizer

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition describes the pii_tokenizer filter to the host.
var Definition = &sdk.Definition{
	Name:    "pii_tokenizer",
	Kind:    sdk.KindFilter,
	Version: "0.1.0",
	Summary: "Tokenize, mask or redact PII and secrets in MCP tool arguments and results",
	Description: "Scans every string leaf under the configured body paths for email addresses, phone numbers " +
		"(libphonenumber-validated), US SSNs, payment cards (Luhn), IBANs (mod 97), IPv4/IPv6 addresses, JWTs, " +
		"Bearer and Basic credentials, URLs with embedded passwords, PEM private keys and provider secrets " +
		"(AWS, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic, Google). JSON key names are context: the value " +
		"of \"password\" is a password, the value of \"email\" an email. Each finding is replaced per its type's " +
		"action; the event gains \"pii\": {type: count} and the record attributes pii.<type>. Events without " +
		"findings pass with their bytes untouched. The host's SENTINEL_FEATURE_REDACTION toggle bypasses this filter.",
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "key", Type: sdk.TypeString, Sensitive: true,
			Description: "HMAC-SHA256 key for tokens and hashes, 64 hex characters as `openssl rand -hex 32` prints. " +
				"The same key gives the same token for the same value on every host. Without key or key_file a key " +
				"is generated once and kept (mode 0600) in the component's data directory.",
			Example: `env("SENTINEL_TOKEN_KEY")`},
		{Name: "key_file", Type: sdk.TypeString,
			Description: "File holding the key (64 hex characters, or 32 raw bytes), instead of key.",
			Example:     `"/etc/sentinel/token.key"`},
		{Name: "paths", Type: sdk.TypeStringList, Default: defaultPaths,
			Description: "Dotted body paths whose string leaves are scanned, at any depth below each path. " +
				"Envelope fields (event_id, event_type, session_id, ...) cannot be listed.",
			Example: `["arguments", "result", "error.message"]`},
		{Name: "actions", Type: sdk.TypeStringMap,
			Description: "Action per type: tokenize (tok_<type>_<base32 HMAC>), mask (display-preserving), redact " +
				"([REDACTED:<type>]), hash (hmac-sha256:<hex>) or keep. Keys are type names (" +
				strings.Join(KindNames(), ", ") + ") or the groups \"pii\" and \"secrets\"; a type's entry wins over " +
				"its group. Defaults: personal data tokenize, secrets redact. Secrets and credentials cannot be kept.",
			Example: `{ pii = "tokenize", email = "mask", ip_address = "keep", secrets = "redact" }`},
		{Name: "key_names", Type: sdk.TypeStringMap,
			Description: "Extra JSON key names whose string values are treated as a type (compared case-insensitively, " +
				"ignoring '-' and '_'), beside the built-in ones such as email, ssn, phone, password, api_key, token.",
			Example: `{ customer_tin = "ssn", contact = "email" }`},
		{Name: "phone_regions", Type: sdk.TypeStringList, Default: defaultPhoneRegions,
			Description: "Regions (ISO 3166 alpha-2) in which national-format phone numbers such as (415) 555-2671 " +
				"are tried; numbers written with +country code are recognized for every region.",
			Example: `["US", "GB", "DE", "FR", "IN"]`},
		{Name: "token_length", Type: sdk.TypeInt, Default: defaultTokenLength,
			Description: "Base32 characters of the HMAC kept in a token (16 = 80 bits; up to 52).",
			Example:     `20`},
	}},
	Operations: []sdk.Operation{
		{Name: sdk.OpGetStatus, Description: "Events seen and changed, findings per type, key source and actions."},
	},
	New: func() sdk.Plugin { return &Tokenizer{} },
}

// Tokenizer is one configured pii_tokenizer instance.
type Tokenizer struct {
	cfg       Config
	walker    walker
	keySource string

	mu       sync.Mutex // guards the statistics, read by Invoke concurrently
	events   uint64
	changed  uint64
	rejected uint64
	findings [numKinds]uint64
}

// envelopeFields are read into the record envelope by the host; rewriting
// them here would put body and envelope out of step.
var envelopeFields = map[string]bool{
	"event_id": true, "timestamp": true, "event_type": true, "severity": true, "session_id": true,
	"server": true, "method": true, "direction": true, "status": true, "classification": true, "pii": true,
}

// Validate checks a configuration without side effects.
func (t *Tokenizer) Validate(sc sdk.Config) error {
	var c Config
	if err := sc.Decode(&c); err != nil {
		return err
	}
	return validate(&c)
}

func validate(c *Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, p := range c.Paths {
		if envelopeFields[strings.SplitN(p, ".", 2)[0]] {
			return sdk.Fieldf("paths", "path %q is an envelope field; the tokenizer scans event content only", p)
		}
	}
	return nil
}

// Configure binds the configuration: loads or creates the key and builds the
// detector, HMAC state and path tree once.
func (t *Tokenizer) Configure(_ context.Context, sc sdk.Config) error {
	var c Config
	if err := sc.Decode(&c); err != nil {
		return err
	}
	if err := validate(&c); err != nil {
		return err
	}
	c.applyDefaults()
	key, source, err := loadKey(&c, sc)
	if err != nil {
		return fmt.Errorf("pii_tokenizer %q: %w", sc.Name, err)
	}
	t.cfg, t.keySource = c, source
	t.walker = walker{
		det:   &detector{regions: c.PhoneRegions, keys: newKeyContext(c.KeyNames)},
		rep:   newReplacer(key, c.resolveActions(), c.TokenLength),
		paths: buildPaths(c.Paths),
	}
	return nil
}

// attributeNames are the record attributes per type, pii.<type>.
var attributeNames = func() (names [numKinds]string) {
	for k := kindEmail; k < numKinds; k++ {
		names[k] = "pii." + k.String()
	}
	return names
}()

// Process tokenizes each record's body. A body that is not a JSON object is
// rejected (dead-lettered by the host), never passed on unscanned.
func (t *Tokenizer) Process(_ context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if t.walker.rep == nil {
		return nil, fmt.Errorf("pii_tokenizer: Process before Configure")
	}
	out := &sdk.Batch{Seq: in.Seq, Records: make([]*sdk.Record, 0, len(in.Records))}
	var changed, rejected uint64
	var found [numKinds]uint64
	for i, r := range in.Records {
		body, hit, err := t.walker.process(r.Body)
		if err != nil {
			out.Reject(i, "pii_tokenizer: "+err.Error())
			rejected++
			continue
		}
		if hit {
			r.Body = body
			if r.Attributes == nil {
				r.Attributes = make(map[string]string, 4)
			}
			for k := range t.walker.seen.all() {
				if n := t.walker.counts[k]; n > 0 {
					r.Attributes[attributeNames[k]] = strconv.Itoa(n) // counts under 100 do not allocate
				}
			}
			changed++
		}
		for k := range t.walker.seen.all() {
			found[k] += uint64(t.walker.counts[k])
		}
		out.Records = append(out.Records, r)
	}
	t.mu.Lock()
	t.events += uint64(len(in.Records))
	t.changed += changed
	t.rejected += rejected
	for k, n := range found {
		t.findings[k] += n
	}
	t.mu.Unlock()
	return out, nil
}

// Invoke answers get_status with the counters (never values).
func (t *Tokenizer) Invoke(_ context.Context, op string, _ json.RawMessage) (any, error) {
	if op != sdk.OpGetStatus {
		return nil, sdk.ErrUnknownOperation(op)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	findings := map[string]uint64{}
	for k := kindEmail; k < numKinds; k++ {
		if t.findings[k] > 0 {
			findings[k.String()] = t.findings[k]
		}
	}
	actions := map[string]string{}
	if t.walker.rep != nil {
		for k := kindEmail; k < numKinds; k++ {
			actions[k.String()] = actionNames[t.walker.rep.actions[k]]
		}
	}
	return map[string]any{
		"operation":      op,
		"plugin":         Definition.Name,
		"version":        Definition.Version,
		"events":         t.events,
		"events_changed": t.changed,
		"rejected":       t.rejected,
		"findings":       findings,
		"actions":        actions,
		"paths":          t.cfg.Paths,
		"key_source":     t.keySource,
	}, nil
}

var (
	_ sdk.Plugin     = (*Tokenizer)(nil)
	_ sdk.Configurer = (*Tokenizer)(nil)
	_ sdk.Validator  = (*Tokenizer)(nil)
	_ sdk.Invoker    = (*Tokenizer)(nil)
)
