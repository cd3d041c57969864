package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
)

func init() {
	var out, origin string
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

Keys written by 'openssl rand -hex 32' are accepted wherever a raw key is
configured (chain.seed, encryptor key).`,
		Example: `  sentinel keygen --out ./keys
  sentinel keygen --out /etc/sentinel/keys --origin audit.example.com/mcp/gw-01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return &exitError{code: 2, err: fmt.Errorf("keygen: --out DIR is required")}
			}
			pub, err := integrity.Keygen(out, origin)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote keys to %s\npublic key: %s\n", out, pub)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to create (must not hold keys already)")
	cmd.Flags().StringVar(&origin, "origin", integrity.DefaultOrigin, "log name in checkpoints, e.g. audit.example.com/mcp/gw-01")
	root.AddCommand(cmd)
}
