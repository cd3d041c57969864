// Package encryptor is the filter that encrypts chosen fields of every event
// with AES-256-GCM before it is signed and stored, so that the audit trail
// keeps its integrity while secrets and personal data stay confidential, and
// deleting one subject's key crypto-shreds that subject's fields.
package encryptor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/buger/jsonparser"

	"github.com/sentinel-audit/sentinel/plugins/integrity/fieldcrypt"
	"github.com/sentinel-audit/sentinel/sdk"
)

// Definition describes the encryptor filter.
var Definition = &sdk.Definition{
	Name:    "encryptor",
	Kind:    sdk.KindFilter,
	Version: "0.1.0",
	Summary: "Field-level AES-256-GCM encryption with key rotation and per-subject crypto-shredding",
	Description: `Each listed field's JSON value becomes "$enc:v1.<key id>.<base64url(nonce|ciphertext|tag)>".
The AAD binds the format version, key id, event id and field path, so a
ciphertext moved to another field or event fails to decrypt. Read back with
` + "`sentinel read --keys DIR --decrypt STORE`" + `.`,
	Operations: []sdk.Operation{
		{Name: "shred_subject", Description: `Destroy one subject's key: args {"subject": "alice"}. Their encrypted fields become unreadable; the log still verifies.`},
	},
	Config: sdk.Schema{Fields: []sdk.Field{
		{Name: "keys", Type: sdk.TypeString, Example: `"./keys"`,
			Description: "Key directory from `sentinel keygen`; data keys live in its keyring/ directory, one file per key, wrapped by keyring/kek.key or by the kms block's key."},
		{Name: "key", Type: sdk.TypeString, Sensitive: true, Example: `env("SENTINEL_ENC_KEY")`,
			Description: "Instead of keys: one raw 32-byte key, as 64 hex digits (`openssl rand -hex 32`) or base64; data keys are derived from it per key id."},
		{Name: "fields", Type: sdk.TypeStringList, Required: true, Example: `["arguments.password", "arguments.*", "result"]`,
			Description: "Dotted paths of the fields to encrypt; a * segment matches every key of an object. Absent and null fields are skipped."},
		{Name: "subject", Type: sdk.TypeString, Example: `"user_id"`,
			Description: "Event field naming the data subject; each subject gets its own data key, so deleting it (operation shred_subject) crypto-shreds only their fields."},
		{Name: "rotate_after", Type: sdk.TypeInt, Default: fieldcrypt.DefaultRotateAfter, Example: "1073741824",
			Description: "Encryptions per shared data key before a fresh one is made (a fresh key is also made at each start); far below GCM's 2^32 random-nonce limit."},
		kmsField,
	}},
	New: func() sdk.Plugin { return &Encryptor{} },
}

// Encryptor is one encryptor instance.
type Encryptor struct {
	cfg     Config
	kr      *fieldcrypt.Keyring
	fields  fieldcrypt.Fields
	subject []string
	count   uint64
	slab    sdk.Slab // new bodies are carved from it
}

// Validate checks the configuration.
func (e *Encryptor) Validate(cfg sdk.Config) error {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	return c.Validate()
}

// Configure loads the keyring and compiles the field paths.
func (e *Encryptor) Configure(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(&e.cfg); err != nil {
		return err
	}
	if err := e.cfg.Validate(); err != nil {
		return err
	}
	var err error
	if e.cfg.Key != "" {
		raw, _ := fieldcrypt.ParseKey([]byte(e.cfg.Key))
		e.kr, err = fieldcrypt.NewRawKeyring(raw)
	} else if e.cfg.KMS != nil {
		var kek *fieldcrypt.VaultKEK
		if kek, err = fieldcrypt.NewVaultKEK(e.cfg.KMS.Vault.kekConfig()); err == nil {
			e.kr, err = fieldcrypt.OpenKeyringKEK(ctx, e.cfg.Keys, kek)
		}
	} else {
		e.kr, err = fieldcrypt.OpenKeyring(e.cfg.Keys)
	}
	if err != nil {
		return fmt.Errorf("encryptor: %w", err)
	}
	if e.cfg.RotateAfter > 0 {
		e.kr.RotateAfter = uint64(e.cfg.RotateAfter)
	}
	e.fields, _ = fieldcrypt.CompileFields(e.cfg.Fields)
	if e.cfg.Subject != "" {
		e.subject = strings.Split(e.cfg.Subject, ".")
	}
	return nil
}

// wrapBudget bounds the KMS calls of one batch, below the host's default
// 30 s filter deadline.
var wrapBudget = 20 * time.Second

// Process encrypts the configured fields of every record.
func (e *Encryptor) Process(ctx context.Context, in *sdk.Batch) (*sdk.Batch, error) {
	if e.kr == nil {
		return nil, errors.New("encryptor: not configured")
	}
	e.kr.LimitWraps(wrapBudget)
	out := &sdk.Batch{Records: make([]*sdk.Record, 0, len(in.Records))}
	for i, r := range in.Records {
		id := r.ID
		if id == "" {
			id, _ = jsonparser.GetString(r.Body, sdk.FieldEventID)
		}
		subject := ""
		if e.subject != nil {
			subject, _ = jsonparser.GetString(r.Body, e.subject...)
		}
		body, n, err := e.kr.EncryptEventSlab(&e.slab, r.Body, e.fields, subject, id)
		if errors.Is(err, fieldcrypt.ErrKeyUnavailable) {
			// No data key now (Vault down or refusing, a full disk): the
			// events are fine, so the whole batch waits (the host retries it
			// with backoff and holds back the inputs) instead of going to the
			// dead-letter file unencrypted.
			return nil, sdk.RetryAfter(fmt.Errorf("encryptor: %w", err), 5*time.Second)
		}
		if err != nil {
			// Never pass on a half-encrypted event: it would leak the rest.
			out.Reject(i, "encryptor: "+err.Error())
			continue
		}
		e.count += uint64(n)
		r.Body = body
		out.Records = append(out.Records, r)
	}
	return out, nil
}

// Invoke answers get_status and shred_subject.
func (e *Encryptor) Invoke(ctx context.Context, op string, args json.RawMessage) (any, error) {
	switch op {
	case sdk.OpGetStatus:
		if e.kr == nil {
			return map[string]any{"configured": false}, nil
		}
		return map[string]any{"fields_encrypted": e.count, "data_keys": e.kr.Len(), "active_key": e.kr.ActiveKID()}, nil
	case "shred_subject":
		var a struct {
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal(args, &a); err != nil || a.Subject == "" {
			return nil, errors.New(`shred_subject: args must be {"subject": "..."}`)
		}
		if e.kr == nil {
			return nil, errors.New("encryptor: not configured")
		}
		kid, err := e.kr.Shred(a.Subject)
		if err != nil {
			return nil, err
		}
		return map[string]any{"destroyed_key": kid}, nil
	}
	return nil, sdk.ErrUnknownOperation(op)
}

var (
	_ sdk.Configurer = (*Encryptor)(nil)
	_ sdk.Validator  = (*Encryptor)(nil)
	_ sdk.Invoker    = (*Encryptor)(nil)
)
