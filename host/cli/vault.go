package cli

import (
	"errors"
	"os"

	"github.com/spf13/pflag"

	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
)

// vaultFlags name the Vault transit key that wraps a keyring's data keys,
// for keygen and read; they mirror filter encryptor's kms { vault { } }.
// Unset flags fall back to Vault's own environment variables.
type vaultFlags struct{ addr, mount, key, namespace, caFile string }

func (v *vaultFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&v.key, "vault-key", "", "Vault transit key that wraps the keyring's data keys (token from $VAULT_TOKEN)")
	fs.StringVar(&v.addr, "vault-addr", "", "Vault address (default $VAULT_ADDR)")
	fs.StringVar(&v.mount, "vault-mount", "transit", "Vault transit mount path")
	fs.StringVar(&v.namespace, "vault-namespace", "", "Vault namespace (default $VAULT_NAMESPACE)")
	fs.StringVar(&v.caFile, "vault-ca-file", "", "PEM CA bundle to trust for Vault (default $VAULT_CACERT)")
}

// kek is the Vault KEK the flags name, or nil without --vault-key.
func (v *vaultFlags) kek() (*fieldcrypt.VaultKEK, error) {
	if v.key == "" {
		if v.addr != "" {
			return nil, errors.New("--vault-addr needs --vault-key")
		}
		return nil, nil
	}
	orEnv := func(s, env string) string {
		if s == "" {
			return os.Getenv(env)
		}
		return s
	}
	addr := orEnv(v.addr, "VAULT_ADDR")
	if addr == "" {
		return nil, errors.New("--vault-key needs --vault-addr or VAULT_ADDR")
	}
	return fieldcrypt.NewVaultKEK(fieldcrypt.VaultConfig{
		Address: addr, Mount: v.mount, Key: v.key,
		Namespace: orEnv(v.namespace, "VAULT_NAMESPACE"), CAFile: orEnv(v.caFile, "VAULT_CACERT"),
	})
}
