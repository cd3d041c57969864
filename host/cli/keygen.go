package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
)

func init() {
	var out, origin string
	var rewrap bool
	var vault vaultFlags
	cmd := &cobra.Command{
		Use:   "keygen --out DIR",
		Short: "Create the keys for signing, verifying and encrypting an audit trail",
		Long: `keygen writes a key directory:

  chain.seed     HMAC chain seed (secret, 0600). The signer reads it once, at its
                 first start, and from then on keeps only evolving keys; move the
                 seed off the host and keep it for 'sentinel verify --keys'.
  signing.key    Ed25519 checkpoint signing key (secret, 0600), signed-note format.
  signing.pub    its public key: give it to anyone who should verify checkpoints
                 and inclusion proofs without any secret.
  keyring/       encryption keyring for filter "encryptor" (0600 files): kek.key
                 wraps one data key per file; deleting a subject's file
                 crypto-shreds that subject's fields.

With --vault-key the data keys are wrapped by a HashiCorp Vault transit key
instead and there is no kek.key: the keyring is then useless without Vault.
Configure the encryptor's kms { vault { ... } } block with the same key.

--rewrap wraps the data keys of the existing keyring in --out again with the
--vault-key key: it moves a local keyring to Vault (removing kek.key), or, after
the transit key was rotated, onto its newest version, so that the key's
min_decryption_version can be raised. Data keys and the log do not change.
Stop the pipeline first: an encryptor running meanwhile may add keys the
rewrap does not see.

Keys written by 'openssl rand -hex 32' are accepted wherever a raw key is
configured (chain.seed, encryptor key).`,
		Example: `  sentinel keygen --out ./keys
  VAULT_TOKEN=... sentinel keygen --out ./keys --vault-addr https://vault:8200 --vault-key sentinel
  VAULT_TOKEN=... sentinel keygen --out ./keys --rewrap --vault-addr https://vault:8200 --vault-key sentinel
  sentinel keygen --out /etc/sentinel/keys --origin audit.example.com/mcp/gw-01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return &exitError{code: 2, err: fmt.Errorf("keygen: --out DIR is required")}
			}
			kek, err := vault.kek()
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("keygen: %w", err)}
			}
			if rewrap {
				if kek == nil {
					return &exitError{code: 2, err: fmt.Errorf("keygen --rewrap: give the Vault key with --vault-key")}
				}
				n, err := fieldcrypt.RewrapKeyring(cmd.Context(), out, kek)
				if err != nil {
					return &exitError{code: 1, err: fmt.Errorf("keygen --rewrap: %w (rewrapped %d; run again to finish)", err, n)}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rewrapped %d data keys in %s with %s\n", n, out, kek.Name())
				return nil
			}
			var wrap fieldcrypt.KEK
			if kek != nil {
				wrap = kek
			}
			pub, err := integrity.KeygenKEK(cmd.Context(), out, origin, wrap)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote keys to %s\npublic key: %s\n", out, pub)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to create (must not hold keys already)")
	cmd.Flags().StringVar(&origin, "origin", integrity.DefaultOrigin, "log name in checkpoints, e.g. audit.example.com/mcp/gw-01")
	cmd.Flags().BoolVar(&rewrap, "rewrap", false, "wrap the data keys of the keyring in --out again with --vault-key, instead of creating keys")
	vault.register(cmd.Flags())
	root.AddCommand(cmd)
}
