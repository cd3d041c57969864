package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
)

func init() {
	var keys, outDir string
	var every int
	cmd := &cobra.Command{
		Use:   "sign --keys DIR FILE.jsonl...",
		Short: "Sign existing JSONL audit files so 'sentinel verify' can check them",
		Long: `sign turns each JSONL file (one JSON event per line) into FILE.signed.jsonl:
the same events as entry lines of an HMAC chain, with a signed checkpoint every
--every entries and at the end. Each file gets its own chain; verify them
together with 'sentinel verify --keys DIR FILE.signed.jsonl...'.

Lines that are not JSON objects are refused (the file is not written), so that
nothing is silently left out of the signature.`,
		Example: `  sentinel sign --keys ./keys audit-2026-11-*.jsonl
  sentinel sign --keys ./keys --out-dir ./signed logs/*.jsonl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keys == "" {
				return &exitError{code: 2, err: errors.New("sign: --keys DIR is required")}
			}
			seed, err := integrity.LoadSeed(keys)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			signer, err := integrity.LoadSigner(keys)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			for _, in := range args {
				out := strings.TrimSuffix(in, ".jsonl") + ".signed.jsonl"
				if outDir != "" {
					out = filepath.Join(outDir, filepath.Base(out))
				}
				n, err := signFile(in, out, seed, signer, every)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s -> %s (%d events)\n", in, out, n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keys, "keys", "", "key directory from 'sentinel keygen'")
	cmd.Flags().StringVar(&outDir, "out-dir", "", "write signed files here instead of next to the inputs")
	cmd.Flags().IntVar(&every, "every", 4096, "checkpoint after this many entries")
	root.AddCommand(cmd)
}

func signFile(in, out string, seed []byte, signer interface {
	Name() string
	KeyHash() uint32
	Sign([]byte) ([]byte, error)
}, every int) (int, error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	defer f.Close()
	chain, err := integrity.NewChain(seed, signer.Name(), time.Hour, time.Now())
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	emit := func(l []byte) { buf.Write(l); buf.WriteByte('\n') }
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	n, since := 0, 0
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' || !jsonValid(line) {
			return n, fmt.Errorf("sign %s line %d: not a JSON object; nothing written", in, lineNo)
		}
		chain.Sign(time.Now(), line, emit)
		n++
		if since++; since >= every {
			ck, err := chain.Checkpoint(signer)
			if err != nil {
				return n, err
			}
			emit(ck)
			since = 0
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("sign %s: %w", in, err)
	}
	ck, err := chain.Checkpoint(signer)
	if err != nil {
		return n, err
	}
	emit(ck)
	if err := fieldcrypt.WriteFileAtomic(out, buf.Bytes(), 0o640); err != nil {
		return n, fmt.Errorf("sign: %w", err)
	}
	return n, nil
}

func jsonValid(b []byte) bool { return json.Valid(b) }
