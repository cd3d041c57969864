package piitokenizer

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/sentinel-audit/sentinel/sdk"
)

// Config is the pii_tokenizer block. The schema in pii_tokenizer.go documents
// each field; the json tags match it.
type Config struct {
	// Key is the HMAC key for tokens and hashes, 64 hex characters.
	Key string `json:"key"`
	// KeyFile holds the key instead of Key.
	KeyFile string `json:"key_file"`
	// Paths are the dotted body paths whose string leaves are scanned.
	Paths []string `json:"paths"`
	// Actions maps a type name, or the groups "pii" and "secrets", to an action.
	Actions map[string]string `json:"actions"`
	// KeyNames adds JSON key names whose values are treated as a type.
	KeyNames map[string]string `json:"key_names"`
	// PhoneRegions are the regions national-format phone numbers are tried in.
	PhoneRegions []string `json:"phone_regions"`
	// TokenLength is the number of base32 characters of the HMAC in a token.
	TokenLength int `json:"token_length"`
}

var (
	defaultPaths        = []string{"arguments", "result"}
	defaultPhoneRegions = []string{"US", "GB", "DE", "FR"}
)

const (
	defaultTokenLength = 16 // 80 bits: collisions stay negligible below ~10^8 values per type
	maxTokenLength     = 52 // all 256 bits of the HMAC in base32
)

func (c *Config) applyDefaults() {
	if len(c.Paths) == 0 {
		c.Paths = defaultPaths
	}
	if len(c.PhoneRegions) == 0 {
		c.PhoneRegions = defaultPhoneRegions
	}
	if c.TokenLength == 0 {
		c.TokenLength = defaultTokenLength
	}
}

// Validate checks the configuration without touching files; errors name the
// argument so `sentinel validate` can point at its line. It never prints the key.
func (c *Config) Validate() error {
	if c.Key != "" && c.KeyFile != "" {
		return sdk.Fieldf("key_file", "set key or key_file, not both")
	}
	if c.Key != "" {
		if _, err := parseHexKey(c.Key); err != nil {
			return sdk.Fieldf("key", "%v", err)
		}
	}
	for _, p := range c.Paths {
		if p == "" || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
			return sdk.Fieldf("paths", "path %q: want a dotted path to a body field, such as \"arguments\" or \"error.message\"", p)
		}
	}
	names := make([]string, 0, len(c.Actions))
	for name := range c.Actions {
		names = append(names, name)
	}
	sort.Strings(names) // report the same first error every run
	for _, name := range names {
		act, ok := actionByName(c.Actions[name])
		if !ok {
			return sdk.Fieldf("actions", "%s: unknown action %q (want one of %s)", name, c.Actions[name], strings.Join(actionNames, ", "))
		}
		secret := name == groupSecrets
		if name != groupPII && name != groupSecrets {
			k, ok := kindByName(name)
			if !ok {
				return sdk.Fieldf("actions", "unknown type %q (want pii, secrets or one of %s)", name, strings.Join(KindNames(), ", "))
			}
			secret = k.isSecret()
		}
		if secret && act == actKeep {
			return sdk.Fieldf("actions", "%s: secrets and credentials are never kept; use redact, hash, mask or tokenize", name)
		}
	}
	keys := make([]string, 0, len(c.KeyNames))
	for k := range c.KeyNames {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if normalizeKey(k) == "" {
			return sdk.Fieldf("key_names", "key name %q has no letters or digits", k)
		}
		if _, ok := kindByName(c.KeyNames[k]); !ok {
			return sdk.Fieldf("key_names", "%s: unknown type %q (want one of %s)", k, c.KeyNames[k], strings.Join(KindNames(), ", "))
		}
	}
	supported := phonenumbers.GetSupportedRegions()
	for _, r := range c.PhoneRegions {
		if !supported[r] {
			return sdk.Fieldf("phone_regions", "unknown region %q (want ISO 3166 alpha-2 codes such as \"US\", \"GB\")", r)
		}
	}
	if c.TokenLength != 0 && (c.TokenLength < 16 || c.TokenLength > maxTokenLength) {
		return sdk.Fieldf("token_length", "must be between 16 and %d, got %d", maxTokenLength, c.TokenLength)
	}
	return nil
}

const (
	groupPII     = "pii"
	groupSecrets = "secrets"
)

// resolveActions turns the configured map into a per-kind table: a type's own
// entry wins over its group's, and the group's over the default.
func (c *Config) resolveActions() [numKinds]action {
	var out [numKinds]action
	for k := kindEmail; k < numKinds; k++ {
		out[k] = defaultAction(k)
		group := groupPII
		if k.isSecret() {
			group = groupSecrets
		}
		if a, ok := actionByName(c.Actions[group]); ok {
			out[k] = a
		}
		if a, ok := actionByName(c.Actions[k.String()]); ok {
			out[k] = a
		}
	}
	return out
}

// parseHexKey reads a 32-byte key written as 64 hex characters, the form
// `openssl rand -hex 32` prints.
func parseHexKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) != 64 {
		return nil, fmt.Errorf("must be 64 hex characters (openssl rand -hex 32), got %d characters", len(s))
	}
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("must be 64 hex characters (openssl rand -hex 32): not hexadecimal")
	}
	return k, nil
}
