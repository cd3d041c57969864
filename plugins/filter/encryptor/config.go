package encryptor

import (
	"time"

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
	KMS         *KMS     `json:"kms"`
}

// KMS names where the key-encryption key lives when it is not keyring/kek.key.
type KMS struct {
	Vault *Vault `json:"vault"`
}

// Vault is a HashiCorp Vault (or OpenBao) transit key that wraps the data keys.
type Vault struct {
	Address   string       `json:"address"`
	Mount     string       `json:"mount"`
	Key       string       `json:"key"`
	Token     string       `json:"token"`
	TokenFile string       `json:"token_file"`
	TokenEnv  string       `json:"token_env"`
	Namespace string       `json:"namespace"`
	CAFile    string       `json:"ca_file"`
	Timeout   sdk.Duration `json:"timeout"`
}

// kmsField documents the kms block in the schema.
var kmsField = sdk.Field{
	Name: "kms", Type: sdk.TypeBlock,
	Description: "Where the key-encryption key that wraps the keyring's data keys lives, instead of keyring/kek.key. Needs keys. A keyring is opened only with the key that wrapped it.",
	Fields: []sdk.Field{{
		Name: "vault", Type: sdk.TypeBlock,
		Description: "HashiCorp Vault (or OpenBao) transit: data keys are wrapped with POST <mount>/encrypt/<key> and unwrapped with <mount>/decrypt/<key>, once per key at start or creation.",
		Fields: []sdk.Field{
			{Name: "address", Type: sdk.TypeString, Required: true, Example: `"https://vault.example.com:8200"`,
				Description: "Vault's URL."},
			{Name: "mount", Type: sdk.TypeString, Default: "transit", Description: "Mount path of the transit engine."},
			{Name: "key", Type: sdk.TypeString, Required: true, Example: `"sentinel"`,
				Description: "Transit key name: an aes256-gcm96 key (transit's default), not derived. The token needs update on <mount>/encrypt/<key> and <mount>/decrypt/<key>."},
			{Name: "token", Type: sdk.TypeString, Sensitive: true, Example: `env("SENTINEL_VAULT_TOKEN")`,
				Description: "Vault token. Prefer token_file or token_env."},
			{Name: "token_file", Type: sdk.TypeString, Example: `"/run/vault-agent/token"`,
				Description: "File holding the token, read at every request, so a Vault Agent sink that renews it is followed."},
			{Name: "token_env", Type: sdk.TypeString, Default: "VAULT_TOKEN",
				Description: "Environment variable holding the token, when neither token nor token_file is set."},
			{Name: "namespace", Type: sdk.TypeString, Description: "Vault Enterprise / HCP namespace, sent as X-Vault-Namespace."},
			{Name: "ca_file", Type: sdk.TypeString, Example: `"/etc/sentinel/vault-ca.pem"`,
				Description: "PEM file of CA certificates to trust for Vault instead of the system pool."},
			{Name: "timeout", Type: sdk.TypeDuration, Default: "10s",
				Description: "Deadline of one request; unreachable, sealed (5xx) and throttled (429) answers are retried 4 times in all with backoff."},
		},
	}},
}

// Validate checks the arguments without reading keys or contacting a KMS.
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
	if c.KMS != nil {
		return c.KMS.validate(c.Key != "")
	}
	return nil
}

func (k *KMS) validate(rawKey bool) error {
	v := k.Vault
	switch {
	case rawKey:
		return sdk.Fieldf("kms", "a KMS wraps the data keys of a keyring directory (keys), not a raw key")
	case v == nil:
		return sdk.Fieldf("kms", "name the KMS: kms { vault { address = ..., key = ... } }")
	case v.Address == "":
		return sdk.Fieldf("kms.vault.address", "set Vault's URL, e.g. \"https://vault.example.com:8200\"")
	case v.Key == "":
		return sdk.Fieldf("kms.vault.key", "set the transit key's name")
	case v.Token != "" && v.TokenFile != "":
		return sdk.Fieldf("kms.vault.token_file", "set token or token_file, not both")
	case v.Timeout < 0:
		return sdk.Fieldf("kms.vault.timeout", "must not be negative")
	}
	if err := fieldcrypt.CheckVaultAddress(v.Address); err != nil {
		return sdk.Fieldf("kms.vault.address", "%v", err)
	}
	return nil
}

// kekConfig is the Vault client's configuration; zero values take
// fieldcrypt's defaults, so JSON without the schema's defaults works too.
func (v *Vault) kekConfig() fieldcrypt.VaultConfig {
	return fieldcrypt.VaultConfig{
		Address: v.Address, Mount: v.Mount, Key: v.Key,
		Token: v.Token, TokenFile: v.TokenFile, TokenEnv: v.TokenEnv,
		Namespace: v.Namespace, CAFile: v.CAFile, Timeout: time.Duration(v.Timeout),
	}
}
