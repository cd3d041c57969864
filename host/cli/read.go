package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/buger/jsonparser"
	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
)

func init() {
	var keys string
	var decrypt, all bool
	var vault vaultFlags
	cmd := &cobra.Command{
		Use:   "read --keys DIR [--decrypt] PATH",
		Short: "Print the events of an audit store as JSONL, verifying while reading",
		Long: `read prints the events of a store (or a signed JSONL file) one per line,
checking every entry's MAC chain as it goes. It stops at the first altered
entry, names it on stderr and exits 1; what it printed before was verified.

--decrypt replaces the fields filter "encryptor" encrypted with their
plaintext, for every field whose data key is in DIR/keyring. Fields whose key
was destroyed (crypto-shredded) or whose ciphertext does not authenticate stay
encrypted and are counted on stderr; no plaintext ever appears in an error.
A keyring wrapped by Vault transit (keygen --vault-key) needs the same
--vault-key and --vault-addr here, and VAULT_TOKEN.

--all also prints the chain's own entries (genesis and epoch seals).`,
		Example: `  sentinel read --keys ./keys ./data/audit | jq 'select(.event_type == "mcp_tool_execution")'
  sentinel read --keys ./keys --decrypt ./data/audit > plaintext.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seed, pub, err := integrityKeys(keys, "")
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("read: %w", err)}
			}
			var kr *fieldcrypt.Keyring
			if decrypt {
				kek, err := vault.kek()
				if err == nil && kek != nil {
					kr, err = fieldcrypt.OpenKeyringKEK(cmd.Context(), keys, kek)
				} else if err == nil {
					kr, err = fieldcrypt.OpenKeyring(keys)
				}
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("read --decrypt: %w", err)}
				}
			}
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
			undecryptable := 0
			opts := store.VerifyOptions{Seed: seed, Pub: pub, OnEntry: func(pos integrity.Pos, e *integrity.Entry, line []byte) error {
				if e.Kind != integrity.KindEvent && !all {
					return nil
				}
				ev := e.Event
				if kr != nil {
					id, _ := jsonparser.GetString(ev, "event_id")
					var errs []error
					ev, errs = kr.DecryptEvent(ev, id)
					undecryptable += len(errs)
				}
				w.Write(ev)
				return w.WriteByte('\n')
			}}
			var rep *store.Report
			if isDir(args[0]) {
				rep, err = store.Verify(args[0], opts)
			} else {
				rep, err = store.VerifyFile(args[0], opts)
			}
			w.Flush()
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("read: %w", err)}
			}
			if undecryptable > 0 {
				fmt.Fprintf(os.Stderr, "sentinel: %d encrypted field(s) left encrypted: key destroyed, not in this keyring, or ciphertext corrupt\n", undecryptable)
			}
			if !rep.Intact() {
				return &exitError{code: 1, err: errors.New("read stopped: " + rep.Findings[0].String())}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keys, "keys", "", "key directory from 'sentinel keygen'")
	cmd.Flags().BoolVar(&decrypt, "decrypt", false, "decrypt encrypted fields with DIR/keyring")
	cmd.Flags().BoolVar(&all, "all", false, "also print genesis and epoch-seal entries")
	vault.register(cmd.Flags())
	root.AddCommand(cmd)
}
