package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sentinel-audit/sentinel/host/report"
	"github.com/sentinel-audit/sentinel/sdk"
)

func init() {
	var storePath, since, frameworks, out, keys, pub, title string
	cmd := &cobra.Command{
		Use:   "report --store DIR [--since 7d|DATE] [--framework sox,gdpr] [--keys DIR | --pub FILE] --out report.html",
		Short: "Write one self-contained HTML report of an audit store",
		Long: `report reads a store written by output "file" (or a signed JSONL file) and writes one
HTML file that needs no network: charts of events per type over time, failures and
security threats, tables of threats, policy violations, sessions, retention per
compliance framework, and the store's integrity verification status.

With --keys DIR (chain seed) or --pub signing.pub the store is verified while it is
read, as 'sentinel verify' does; events after the first alteration are left out and
the alteration is shown. Without keys the events are read unverified and the report
says so.

--since takes a duration back from now (24h, 7d) or a date (2026-11-01, RFC 3339).
--framework lists frameworks whose retention to check: sox, gdpr, hipaa, soc2, pci_dss.

Exit status: 0 report written, 1 report written but the store is altered, 2 usage
or I/O error.`,
		Example: `  sentinel report --store ./data/audit --keys ./keys --framework sox,gdpr --out report.html
  sentinel report --store ./data/audit --since 7d --out last-week.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			usage := func(err error) error { return &exitError{code: 2, err: fmt.Errorf("report: %w", err)} }
			if storePath == "" || out == "" {
				return usage(errors.New("--store and --out are required"))
			}
			now := time.Now().UTC()
			opts := report.Options{Title: title, Now: now}
			var err error
			if opts.Since, err = parseSince(since, now); err != nil {
				return usage(err)
			}
			for _, f := range strings.Split(frameworks, ",") {
				f = strings.ToLower(strings.TrimSpace(f))
				if f == "" {
					continue
				}
				if !report.KnownFramework(f) {
					return usage(fmt.Errorf("--framework: unknown framework %q (sox, gdpr, hipaa, soc2, pci_dss)", f))
				}
				opts.Frameworks = append(opts.Frameworks, f)
			}
			src := report.Source{Path: storePath}
			if keys != "" || pub != "" {
				if src.Seed, src.Pub, err = integrityKeys(keys, pub); err != nil {
					return usage(err)
				}
			}
			ds, err := report.Load(src)
			if err != nil {
				return usage(err)
			}
			if err := writeReport(out, ds, storePath, opts); err != nil {
				return usage(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "report: %d events written to %s", len(ds.Events), out)
			switch {
			case !ds.Integrity.Checked:
				fmt.Fprintln(cmd.OutOrStdout(), " (store not verified: no keys given)")
			case ds.Integrity.Intact:
				fmt.Fprintln(cmd.OutOrStdout(), " (store verified intact)")
			default:
				fmt.Fprintln(cmd.OutOrStdout())
				return &exitError{code: 1, err: errors.New("report: the store is altered: " + ds.Integrity.Findings[0])}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&storePath, "store", "", "store directory written by output \"file\", or a signed JSONL file")
	cmd.Flags().StringVar(&since, "since", "", "report events from this long ago (7d, 24h) or this date (2026-11-01, RFC 3339)")
	cmd.Flags().StringVar(&frameworks, "framework", "", "comma-separated frameworks whose retention to check")
	cmd.Flags().StringVar(&out, "out", "", "HTML file to write")
	cmd.Flags().StringVar(&keys, "keys", "", "key directory from 'sentinel keygen': verify while reading")
	cmd.Flags().StringVar(&pub, "pub", "", "public key (signing.pub): verify checkpoints while reading")
	cmd.Flags().StringVar(&title, "title", "", "report title")
	root.AddCommand(cmd)
}

// parseSince reads a duration back from now or an absolute date.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := sdk.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: give a duration (24h, 7d) or a date (2026-11-01, RFC 3339)", s)
}

// writeReport writes through a temporary file so a failed render leaves no half report.
func writeReport(path string, ds *report.Dataset, src string, opts report.Options) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := report.Render(tmp, report.Build(ds, src, opts)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
