package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/output/file/store"
)

// integrityKeys loads what --keys and --pub give: the seed and/or public key.
func integrityKeys(keys, pub string) ([]byte, note.Verifier, error) {
	var seed []byte
	var v note.Verifier
	var err error
	if keys == "" && pub == "" {
		return nil, nil, errors.New("give --keys DIR (full check) or --pub signing.pub (public check)")
	}
	if keys != "" {
		if seed, err = integrity.LoadSeed(keys); err != nil {
			return nil, nil, err
		}
		if _, statErr := os.Stat(filepath.Join(keys, integrity.SigningPubFile)); statErr == nil && pub == "" {
			pub = keys
		}
	}
	if pub != "" {
		if v, err = integrity.LoadVerifier(pub); err != nil {
			return nil, nil, err
		}
	}
	return seed, v, nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func init() {
	var keys, pub, proofID, checkProof string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify (--keys DIR | --pub signing.pub) PATH...",
		Short: "Check that an audit store or signed JSONL file is unaltered",
		Long: `verify reads a store written by output "file" behind filter "signer" (or JSONL
files signed with 'sentinel sign') and checks every layer it has keys for:

  --keys DIR   the chain seed: every entry's MAC, sequence and epoch, so the first
               altered entry is named exactly; plus checkpoints (signing.pub).
  --pub FILE   only the public key: every signed checkpoint against the Merkle
               tree of the entries before it, segment chaining and seals. Anyone
               can run this; entries after the last checkpoint are not yet vouched for.

Entries a crash cut off between the signer and the store (signed, never
stored) are declared by the restarted signer's signed restart entry; verify
prints each such range as a "declared crash loss" warning and still exits 0.
A gap no restart entry declares, or one a forged restart entry claims, is
"deleted".

Exit status: 0 intact, 1 altered (the first bad entry is named with its segment,
line and sequence, and the kind: modified, deleted, inserted, reordered,
truncated_tail, missing_segment, replaced_segment, forged_checkpoint,
invalid_checkpoint, key_outside_epoch), 2 usage or I/O error.

--proof EVENT_ID prints an inclusion proof for one event (JSON) that anyone with
signing.pub can check with --check-proof, without the store.`,
		Example: `  sentinel verify --keys ./keys ./data/audit
  sentinel verify --pub signing.pub ./data/audit
  sentinel verify --keys ./keys day1.signed.jsonl day2.signed.jsonl
  sentinel verify --pub signing.pub --proof 01J9ZQ4T7X0P6G3V8K2M5N1R4S ./data/audit > proof.json
  sentinel verify --pub signing.pub --check-proof proof.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if checkProof != "" {
				return runCheckProof(out, pub, checkProof)
			}
			if len(args) == 0 {
				return &exitError{code: 2, err: errors.New("verify: name a store directory or signed JSONL files")}
			}
			seed, v, err := integrityKeys(keys, pub)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("verify: %w", err)}
			}
			if proofID != "" {
				if v == nil {
					return &exitError{code: 2, err: errors.New("verify --proof needs the public key (--pub, or --keys DIR holding signing.pub)")}
				}
				p, err := store.Prove(args[0], proofID, v)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("verify --proof: %w", err)}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			}
			tampered := false
			for _, path := range args {
				opts := store.VerifyOptions{Seed: seed, Pub: v}
				var rep *store.Report
				if isDir(path) {
					rep, err = store.Verify(path, opts)
				} else {
					rep, err = store.VerifyFile(path, opts)
				}
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("verify %s: %w", path, err)}
				}
				printReport(out, rep, asJSON, seed != nil)
				tampered = tampered || !rep.Intact()
			}
			if tampered {
				return &exitError{code: 1, err: errors.New("")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keys, "keys", "", "key directory from 'sentinel keygen' (chain.seed and signing.pub)")
	cmd.Flags().StringVar(&pub, "pub", "", "public key file (signing.pub) for a check without secrets")
	cmd.Flags().StringVar(&proofID, "proof", "", "print an inclusion proof for the event with this event_id")
	cmd.Flags().StringVar(&checkProof, "check-proof", "", "check an inclusion proof file with --pub")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	root.AddCommand(cmd)
}

func printReport(out io.Writer, rep *store.Report, asJSON, keyed bool) {
	if asJSON {
		b, _ := json.Marshal(rep)
		fmt.Fprintln(out, string(b))
		return
	}
	if !rep.Intact() {
		fmt.Fprintf(out, "%s: ALTERED\n  %s\n", rep.Path, rep.Findings[0])
		return
	}
	mode := "chain, epochs"
	if !keyed {
		mode = "public key"
	}
	fmt.Fprintf(out, "%s: intact (%s)\n  %d entries (%d events, %d epoch seals) in %d segment(s), %d checkpoints, next seq %d\n  root %s\n",
		rep.Path, mode, rep.Entries, rep.Events, rep.EpochSeals, max(rep.Segments, 1), rep.Checkpoints, rep.NextSeq, rep.Root)
	for _, l := range rep.Losses {
		fmt.Fprintf(out, "  warning: declared crash loss: %s\n", l)
	}
	if rep.Unchecked > 0 {
		fmt.Fprintf(out, "  %d entries after the last checkpoint are not yet covered by a signature\n", rep.Unchecked)
	}
	if len(rep.Retired) > 0 {
		fmt.Fprintf(out, "  segments removed by retention (recorded): %v\n", rep.Retired)
	}
	for _, r := range rep.Recovered {
		fmt.Fprintf(out, "  crash recovery cut %d torn bytes from segment %d at %s\n", r.Bytes, r.Seg, r.At.Format("2006-01-02T15:04:05Z"))
	}
	if rep.Active {
		fmt.Fprintln(out, "  the last segment is active (not yet sealed)")
	}
}

func runCheckProof(out io.Writer, pub, path string) error {
	if pub == "" {
		return &exitError{code: 2, err: errors.New("--check-proof needs --pub signing.pub")}
	}
	v, err := integrity.LoadVerifier(pub)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	var p integrity.InclusionProof
	if err := json.Unmarshal(b, &p); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("%s: not a proof: %w", path, err)}
	}
	c, err := integrity.CheckInclusion(&p, v)
	if err != nil {
		fmt.Fprintf(out, "proof INVALID: %v\n", err)
		return &exitError{code: 1, err: errors.New("")}
	}
	fmt.Fprintf(out, "proof valid: event %s is entry %d of %s at tree size %d\n", p.EventID, p.LeafIndex, c.Origin, c.Size)
	return nil
}
