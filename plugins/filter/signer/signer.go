// Package signer is the filter that makes an audit trail tamper-evident: it
// wraps every record's body into a signed entry line of a forward-secure
// HMAC chain, keeps an RFC 6962 Merkle tree over those lines, and emits
// Ed25519-signed checkpoints (C2SP signed notes) every N entries and every T
// seconds, even when idle. Put it directly in front of output "file".
package signer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sentinel-audit/sentinel/plugins/integrity"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Attribute names the signer sets on the records it emits; output "file"
// stores a record carrying AttrLine as its body, verbatim.
const (
	AttrLine = "sentinel.integrity" // "entry" or "checkpoint"
	AttrSeq  = "sentinel.seq"
)

// legacyStateFile is where earlier versions kept the chain state; it is
// migrated into the state log.
const legacyStateFile = "chain.json"

// Definition describes the signer filter.
var Definition = &sdk.Definition{
	Name:    "signer",
	Kind:    sdk.KindFilter,
	Version: "0.1.0",
	Summary: "Forward-secure HMAC chain, Merkle tree and signed checkpoints over every record",
	Description: `Each record's body becomes the "ev" of an entry line
{"v":2,"seq":N,"ep":E,"t":NANOS,"k":"e","ev":{...},"mac":"..."} whose MAC
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
		{Name: "restart_window", Type: sdk.TypeInt, Default: 16384, Example: "16384",
			Description: "Most entries a restarted signer may declare lost: a crash can cut off what was signed but not yet stored, and the restart entry declares that gap so verify reports it as crash loss, not deletion. Make it at least what the host holds between the signer and the store (the file output's in_flight and queue, times max_records). Fixed for a chain by its genesis entry."},
	}},
	New: func() sdk.Plugin { return &Signer{} },
}

// Signer is one signer instance.
type Signer struct {
	cfg     Config
	dataDir string
	chain   *integrity.Chain
	signer  note.Signer
	log     *stateLog
	sinceCk int
	lastCk  time.Time
	ckSize  uint64
	now     func() time.Time
	// restartDue: this process resumed a chain from its saved state and has
	// signed nothing yet. Until it does, replayed batches get their saved
	// answers; then a restart entry goes first.
	restartDue bool
	state      []byte // the last durable chain state, to roll back to
	answer     []answerLine
	closed     bool
}

// Validate checks the configuration.
func (s *Signer) Validate(cfg sdk.Config) error {
	_, err := sdk.DecodeSettings[Config](cfg)
	return err
}

// Configure loads the keys and the chain state (or starts a chain).
func (s *Signer) Configure(ctx context.Context, cfg sdk.Config) error {
	c, err := sdk.DecodeSettings[Config](cfg)
	if err != nil {
		return err
	}
	s.cfg = *c
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
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	log, state, err := openStateLog(s.dataDir)
	if err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	s.log = log
	legacy := filepath.Join(s.dataDir, legacyStateFile)
	if state == nil {
		// A chain saved by an earlier version as chain.json.
		if b, err := os.ReadFile(legacy); err == nil {
			state = b
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("signer: read state: %w", err)
		}
	}
	if state != nil {
		if s.chain, err = integrity.RestoreChain(state); err != nil {
			return fmt.Errorf("signer: %w", err)
		}
		s.restartDue = s.chain.Size() > 0
	} else {
		seed, err := integrity.LoadSeed(s.cfg.Keys)
		if err != nil {
			return fmt.Errorf("signer: %w", err)
		}
		if s.chain, err = integrity.NewChain(seed, origin, s.cfg.Epoch.Std(), s.now()); err != nil {
			return fmt.Errorf("signer: %w", err)
		}
		clear(seed)
		s.chain.SetRestartWindow(uint64(s.cfg.RestartWindow))
		cfg.Log().Info("started a new chain; the chain seed is no longer needed on this host", "origin", origin)
	}
	if s.log.f == nil { // a new log (or one to migrate to)
		s.state = s.chain.MarshalState()
		if err := s.log.append(s.state, batchAnswer{}); err != nil {
			return fmt.Errorf("signer: %w", err)
		}
		_ = removeErased(legacy)
	} else {
		s.state = state
	}
	s.ckSize = s.chain.Size()
	s.lastCk = s.now()
	return nil
}

// batchKey identifies a batch by its records' ids, so that a batch the host
// replays after a crash is recognised. Zero (no key) when an id is missing.
func batchKey(recs []*sdk.Record) [32]byte {
	if len(recs) == 0 {
		return [32]byte{}
	}
	h := sha256.New()
	var n [8]byte
	for _, r := range recs {
		if r.ID == "" {
			return [32]byte{}
		}
		binary.BigEndian.PutUint64(n[:], uint64(len(r.ID)))
		h.Write(n[:])
		h.Write([]byte(r.ID))
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// Process signs every record in order and adds chain and checkpoint records.
// The new chain state and the answer are durable before Process returns.
func (s *Signer) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if s.chain == nil {
		return nil, errors.New("signer: not configured")
	}
	key := batchKey(in.Records)
	if s.restartDue {
		if lines, ok := s.log.lookup(key); ok {
			return s.replay(in, lines), nil
		}
	}
	now := s.now()
	out := &sdk.Batch{Records: make([]*sdk.Record, 0, len(in.Records)+2)}
	s.answer = s.answer[:0]
	undo := struct {
		sinceCk int
		lastCk  time.Time
		ckSize  uint64
		restart bool
	}{s.sinceCk, s.lastCk, s.ckSize, s.restartDue}
	emitChain := func(line []byte) {
		out.Records = append(out.Records, s.chainRecord(now, line, "entry"))
		s.answer = append(s.answer, answerLine{in: -1, kind: kindEntry, line: line})
		s.sinceCk++
	}
	if s.restartDue {
		s.chain.Restart(now, emitChain)
		s.restartDue = false
	}
	if s.chain.Size() > 0 {
		s.chain.Advance(now, emitChain) // epoch seals, even when idle
	}
	copies := make([]sdk.Record, len(in.Records)) // one allocation for the batch's entry records
	// A store fused into this process takes each line's leaf hash from its
	// memo instead of hashing the line again.
	memos := make([]integrity.LeafMemo, len(in.Records))
	for i, r := range in.Records {
		if !isObject(r.Body) {
			out.Reject(i, "signer: record body is not a JSON object")
			continue
		}
		s.chain.Advance(now, emitChain)
		s.chain.Sign(now, r.Body, func(line []byte) {
			memos[i] = s.chain.LastLeaf()
			c := entryRecord(&copies[i], r, line)
			c.Memo = &memos[i]
			out.Records = append(out.Records, c)
			s.answer = append(s.answer, answerLine{in: int32(i), kind: kindEntry, line: line})
		})
		s.sinceCk++
		if s.sinceCk >= s.cfg.CheckpointEvery {
			if err := s.checkpoint(now, out); err != nil {
				return nil, s.rollback(undo.sinceCk, undo.lastCk, undo.ckSize, undo.restart, err)
			}
		}
	}
	// The Final batch (shutdown, end of input) covers everything with a signed checkpoint.
	if s.chain.Size() > 0 && (now.Sub(s.lastCk) >= s.cfg.CheckpointInterval.Std() || (in.Final && s.sinceCk > 0)) {
		if err := s.checkpoint(now, out); err != nil {
			return nil, s.rollback(undo.sinceCk, undo.lastCk, undo.ckSize, undo.restart, err)
		}
	}
	if len(s.answer) > 0 {
		state := s.chain.MarshalState()
		if err := s.log.append(state, batchAnswer{key: key, lines: s.answer}); err != nil {
			return nil, s.rollback(undo.sinceCk, undo.lastCk, undo.ckSize, undo.restart, fmt.Errorf("signer: persist chain state: %w", err))
		}
		s.state = state
	}
	return out, nil
}

// rollback returns to the last durable state after a failed batch: nothing
// of it was answered, so the host's retry must be signed at the same
// positions, or the store would see a gap.
func (s *Signer) rollback(sinceCk int, lastCk time.Time, ckSize uint64, restart bool, cause error) error {
	if c, err := integrity.RestoreChain(s.state); err == nil {
		s.chain = c
	} else {
		s.chain = nil // cannot happen for a state we wrote; refuse to go on rather than fork
	}
	s.sinceCk, s.lastCk, s.ckSize, s.restartDue = sinceCk, lastCk, ckSize, restart
	return cause
}

// replay answers a batch the host sent again after a crash with exactly the
// lines it was first answered with.
func (s *Signer) replay(in *sdk.Batch, lines []answerLine) *sdk.Batch {
	now := s.now()
	out := &sdk.Batch{Records: make([]*sdk.Record, 0, len(lines))}
	copies := make([]sdk.Record, len(in.Records)) // one allocation for the batch's entry records
	for i, r := range in.Records {
		if !isObject(r.Body) {
			out.Reject(i, "signer: record body is not a JSON object")
		}
	}
	for _, ln := range lines {
		switch {
		case ln.in >= 0 && int(ln.in) < len(in.Records):
			out.Records = append(out.Records, entryRecord(&copies[ln.in], in.Records[ln.in], ln.line))
		case ln.kind == kindCkpt:
			out.Records = append(out.Records, s.chainRecord(now, ln.line, "checkpoint"))
		default:
			out.Records = append(out.Records, s.chainRecord(now, ln.line, "entry"))
		}
	}
	return out
}

func isObject(body []byte) bool { return len(body) > 0 && body[0] == '{' }

// entryRecord makes c a copy of r carrying its signed entry line as the
// body. r is left as it came: a failed batch is retried with it.
func entryRecord(c, r *sdk.Record, line []byte) *sdk.Record {
	*c = *r
	c.Attributes = make(map[string]string, len(r.Attributes)+1)
	for k, v := range r.Attributes {
		c.Attributes[k] = v
	}
	c.Attributes[AttrLine] = "entry"
	c.Body = line
	c.Memo = nil // it described the body this record no longer carries
	return c
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
	s.answer = append(s.answer, answerLine{in: -1, kind: kindCkpt, line: line})
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

// Close closes the state log; every batch's state is already durable.
func (s *Signer) Close(ctx context.Context) error {
	if s.closed || s.log == nil {
		return nil
	}
	s.closed = true
	return s.log.close()
}

var (
	_ sdk.Configurer = (*Signer)(nil)
	_ sdk.Validator  = (*Signer)(nil)
	_ sdk.Invoker    = (*Signer)(nil)
	_ sdk.Closer     = (*Signer)(nil)
)
