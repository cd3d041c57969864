// Package signer is the filter that makes an audit trail tamper-evident: it
// wraps every record's body into a signed entry line of a forward-secure
// HMAC chain, keeps an RFC 6962 Merkle tree over those lines, and emits
// Ed25519-signed checkpoints (C2SP signed notes) every N entries and every T
// seconds, even when idle. Put it directly in front of output "file".
package signer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Attribute names the signer sets on the records it emits; output "file"
// stores a record carrying AttrLine as its body, verbatim.
const (
	AttrLine = "sentinel.integrity" // "entry" or "checkpoint"
	AttrSeq  = "sentinel.seq"
)

// stateFile is the chain state in the component's data directory.
const stateFile = "chain.json"

// Definition describes the signer filter.
var Definition = &sdk.Definition{
	Name:    "signer",
	Kind:    sdk.KindFilter,
	Version: "0.1.0",
	Summary: "Forward-secure HMAC chain, Merkle tree and signed checkpoints over every record",
	Description: `Each record's body becomes the "ev" of an entry line
{"v":1,"seq":N,"ep":E,"t":NANOS,"k":"e","ev":{...},"mac":"..."} whose MAC
chains to the previous entry under a key that evolves per entry and per epoch
(old keys are erased). Checkpoint records {"ckpt":"<signed note>"} commit to the
RFC 6962 Merkle tree of all entry lines. Verify with ` + "`sentinel verify`" + `.`,
	Tick: sdk.Duration(time.Second),
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "keys", Type: sdk.TypeString, Required: true, Example: `"./keys"`,
			Description: "Key directory written by `sentinel keygen --out DIR`: chain.seed (needed only at the first start; move it off the host afterwards) and signing.key (checkpoints)."},
		{Name: "origin", Type: sdk.TypeString, Example: `"audit.example.com/mcp/gw-01"`,
			Description: "Log name in checkpoints. Default: the name of the signing key."},
		{Name: "epoch", Type: sdk.TypeDuration, Default: "10m", Example: `"10m"`,
			Description: "Length of a key epoch. Each epoch ends with a seal entry, even when idle; a shorter epoch narrows the window an intruder could rewrite, at one seal line per epoch."},
		{Name: "checkpoint_every", Type: sdk.TypeInt, Default: 4096, Example: "4096",
			Description: "Sign a checkpoint after this many entries."},
		{Name: "checkpoint_interval", Type: sdk.TypeDuration, Default: "10s", Example: `"10s"`,
			Description: "Sign a checkpoint at least this often, even when no events arrive."},
	}},
	New: func() sdk.Plugin { return &Signer{} },
}

// Signer is one signer instance.
type Signer struct {
	cfg     Config
	dataDir string
	chain   *integrity.Chain
	signer  note.Signer
	sinceCk int
	lastCk  time.Time
	ckSize  uint64
	now     func() time.Time
	dirty   bool
	closed  bool
}

// Validate checks the configuration.
func (s *Signer) Validate(cfg sdk.Config) error {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	c.defaults()
	return c.Validate()
}

// Configure loads the keys and the chain state (or starts a chain).
func (s *Signer) Configure(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(&s.cfg); err != nil {
		return err
	}
	s.cfg.defaults()
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.dataDir = cfg.DataDir
	signer, err := integrity.LoadSigner(s.cfg.Keys)
	if err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	s.signer = signer
	origin := s.cfg.Origin
	if origin == "" {
		origin = signer.Name()
	}
	state, err := os.ReadFile(filepath.Join(s.dataDir, stateFile))
	switch {
	case err == nil:
		if s.chain, err = integrity.RestoreChain(state); err != nil {
			return fmt.Errorf("signer: %w", err)
		}
	case errors.Is(err, os.ErrNotExist):
		seed, err := integrity.LoadSeed(s.cfg.Keys)
		if err != nil {
			return fmt.Errorf("signer: %w", err)
		}
		if s.chain, err = integrity.NewChain(seed, origin, s.cfg.Epoch.Std(), s.now()); err != nil {
			return fmt.Errorf("signer: %w", err)
		}
		clear(seed)
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			return fmt.Errorf("signer: %w", err)
		}
		if err := s.persist(); err != nil {
			return err
		}
		cfg.Log().Info("started a new chain; the chain seed is no longer needed on this host", "origin", origin)
	default:
		return fmt.Errorf("signer: read state: %w", err)
	}
	s.ckSize = s.chain.Size()
	s.lastCk = s.now()
	return nil
}

func (s *Signer) persist() error {
	if err := fieldcrypt.WriteSecretFile(filepath.Join(s.dataDir, stateFile), s.chain.MarshalState()); err != nil {
		return fmt.Errorf("signer: persist chain state: %w", err)
	}
	s.dirty = false
	return nil
}

// Process signs every record in order and adds chain and checkpoint records.
func (s *Signer) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if s.chain == nil {
		return nil, errors.New("signer: not configured")
	}
	now := s.now()
	out := &sdk.Batch{Records: make([]*sdk.Record, 0, len(in.Records)+2)}
	emitChain := func(line []byte) {
		out.Records = append(out.Records, s.chainRecord(now, line, "entry"))
		s.sinceCk++
		s.dirty = true
	}
	if s.chain.Size() > 0 {
		s.chain.Advance(now, emitChain) // epoch seals, even when idle
	}
	for i, r := range in.Records {
		if len(r.Body) == 0 || r.Body[0] != '{' {
			out.Reject(i, "signer: record body is not a JSON object")
			continue
		}
		s.chain.Advance(now, emitChain)
		s.chain.Sign(now, r.Body, func(line []byte) {
			c := *r
			c.Attributes = make(map[string]string, len(r.Attributes)+2)
			for k, v := range r.Attributes {
				c.Attributes[k] = v
			}
			c.Attributes[AttrLine] = "entry"
			c.Body = line
			out.Records = append(out.Records, &c)
		})
		s.sinceCk++
		s.dirty = true
		if s.sinceCk >= s.cfg.CheckpointEvery {
			if err := s.checkpoint(now, out); err != nil {
				return nil, err
			}
		}
	}
	// The Final batch (shutdown, end of input) covers everything with a signed checkpoint.
	if s.chain.Size() > 0 && (now.Sub(s.lastCk) >= s.cfg.CheckpointInterval.Std() || (in.Final && s.sinceCk > 0)) {
		if err := s.checkpoint(now, out); err != nil {
			return nil, err
		}
	}
	if s.dirty {
		if err := s.persist(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Signer) chainRecord(now time.Time, line []byte, kind string) *sdk.Record {
	return &sdk.Record{
		ID: sdk.NewID(now), Time: now, Type: "sentinel_integrity", Server: "sentinel",
		Attributes: map[string]string{AttrLine: kind}, Body: line,
	}
}

func (s *Signer) checkpoint(now time.Time, out *sdk.Batch) error {
	line, err := s.chain.Checkpoint(s.signer)
	if err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	out.Records = append(out.Records, s.chainRecord(now, line, "checkpoint"))
	s.sinceCk, s.lastCk, s.ckSize = 0, now, s.chain.Size()
	return nil
}

// Invoke answers get_status with the chain's position.
func (s *Signer) Invoke(ctx context.Context, op string, args json.RawMessage) (any, error) {
	if op != sdk.OpGetStatus || s.chain == nil {
		return nil, sdk.ErrUnknownOperation(op)
	}
	p := s.chain.Point()
	return map[string]any{
		"origin": p.Origin, "next_seq": p.NextSeq, "epoch": p.Epoch, "entries": p.TreeSize,
		"last_checkpoint_size": s.ckSize, "last_checkpoint": s.lastCk.UTC(),
	}, nil
}

// Close persists the chain state.
func (s *Signer) Close(ctx context.Context) error {
	if s.closed || s.chain == nil {
		return nil
	}
	s.closed = true
	if s.dirty {
		return s.persist()
	}
	return nil
}

var (
	_ sdk.Configurer = (*Signer)(nil)
	_ sdk.Validator  = (*Signer)(nil)
	_ sdk.Invoker    = (*Signer)(nil)
	_ sdk.Closer     = (*Signer)(nil)
)
