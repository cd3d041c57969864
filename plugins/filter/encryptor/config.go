package encryptor

import (
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Config is the encryptor's HCL block.
type Config struct {
	Keys        string   `json:"keys"`
	Key         string   `json:"key"`
	Fields      []string `json:"fields"`
	Subject     string   `json:"subject"`
	RotateAfter int64    `json:"rotate_after"`
}

// Validate checks the arguments without reading keys.
func (c *Config) Validate() error {
	switch {
	case c.Keys == "" && c.Key == "":
		return sdk.Fieldf("keys", "set keys (a directory from `sentinel keygen`) or key (a raw 32-byte key)")
	case c.Keys != "" && c.Key != "":
		return sdk.Fieldf("key", "set either keys or key, not both")
	case len(c.Fields) == 0:
		return sdk.Fieldf("fields", "list at least one field to encrypt, e.g. [\"arguments.password\", \"result\"]")
	case c.Subject != "" && c.Key != "":
		return sdk.Fieldf("subject", "per-subject keys need a keyring directory (keys), so that one subject's key can be deleted")
	case c.RotateAfter < 0 || c.RotateAfter > 1<<32:
		return sdk.Fieldf("rotate_after", "must be between 1 and 2^32")
	}
	if _, err := fieldcrypt.CompileFields(c.Fields); err != nil {
		return sdk.Fieldf("fields", "%v", err)
	}
	if c.Key != "" {
		if _, err := fieldcrypt.ParseKey([]byte(c.Key)); err != nil {
			return sdk.Fieldf("key", "%v", err)
		}
	}
	return nil
}
