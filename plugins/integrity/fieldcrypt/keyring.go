package fieldcrypt

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// KeyringDir is the keyring's directory inside a key directory.
const KeyringDir = "keyring"

// kekFile holds the local key-encryption key that wraps every DEK file.
const kekFile = "kek.key"

// DefaultRotateAfter is the number of encryptions after which a data key is
// retired for a fresh one: 2^30, a quarter of the 2^32 random-nonce limit of
// AES-GCM, so a nonce collision stays far below 2^-32.
const DefaultRotateAfter = 1 << 30

// KEK wraps and unwraps data keys. The local implementation keeps a key file
// next to the keyring; a KMS (Vault transit, AWS KMS) plugs in here, off the
// hot path because unwrapped DEKs are cached for the life of the process.
type KEK interface {
	Name() string
	Wrap(ctx context.Context, dek, aad []byte) ([]byte, error)
	Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error)
}

// LocalKEK is a KEK held in a local file, AES-256-GCM with a random nonce.
type LocalKEK struct{ aead cipher.AEAD }

// NewLocalKEK builds a local KEK from a 32-byte key.
func NewLocalKEK(key []byte) (*LocalKEK, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &LocalKEK{aead: a}, nil
}

func (k *LocalKEK) Name() string { return "local" }

func (k *LocalKEK) Wrap(_ context.Context, dek, aad []byte) ([]byte, error) {
	return k.aead.Seal(nil, nil, dek, aad), nil
}

func (k *LocalKEK) Unwrap(_ context.Context, wrapped, aad []byte) ([]byte, error) {
	dek, err := k.aead.Open(nil, nil, wrapped, aad)
	if err != nil {
		return nil, errors.New("unwrap data key: wrong key-encryption key or corrupt key file")
	}
	return dek, nil
}

// keyFile is one DEK on disk: keyring/<kid>.json.
type keyFile struct {
	Version int    `json:"v"`
	KID     string `json:"kid"`
	KEK     string `json:"kek"`
	Wrapped string `json:"wrapped"`
	// Subject is the SHA-256 of the data subject the key belongs to, empty for
	// the shared key; the subject itself is not stored.
	Subject string    `json:"subject,omitempty"`
	Created time.Time `json:"created"`
}

type dek struct {
	kid     string
	aead    cipher.AEAD // AES-256-GCM with 96-bit nonces the keyring draws at random
	subject string
}

// Keyring holds the data keys of one key directory (or of one raw key) in
// memory. It is safe for concurrent use.
type Keyring struct {
	mu          sync.Mutex
	dir         string // keyring directory; empty in raw-key mode
	kek         KEK
	raw         []byte // raw-key mode: DEK = HKDF(raw, kid)
	keys        map[string]*dek
	subjects    map[string]string // subject hash -> kid
	active      *dek
	activeUses  uint64
	RotateAfter uint64
	wrapsUntil  time.Time // set by LimitWraps: no key-wrapping call runs past it
	nonces      [nonceSize * 256]byte
	noncesUsed  int
	// The subject whose key was looked up last: an event's fields, and
	// often a run of events, share it, and its hash need not be taken again.
	lastSubject string
	lastKey     *dek
}

const nonceSize = 12

// nonce returns a fresh random nonce; kr.mu is held.
func (kr *Keyring) nonce() (n [nonceSize]byte) {
	if kr.noncesUsed == 0 || kr.noncesUsed == len(kr.nonces) {
		rand.Read(kr.nonces[:]) // never fails (crypto/rand crashes the program instead)
		kr.noncesUsed = 0
	}
	copy(n[:], kr.nonces[kr.noncesUsed:])
	clear(kr.nonces[kr.noncesUsed : kr.noncesUsed+nonceSize]) // handed out once
	kr.noncesUsed += nonceSize
	return n
}

// LimitWraps bounds the KMS calls made from now on, together, to d: a
// caller sets it per batch, so that a batch needing several new keys from a
// slow KMS fails (to be retried) before the host's deadline rather than
// being killed at it.
func (kr *Keyring) LimitWraps(d time.Duration) {
	kr.mu.Lock()
	kr.wrapsUntil = time.Now().Add(d)
	kr.mu.Unlock()
}

// ErrUnknownKey means a ciphertext names a key the keyring does not hold:
// never created here, or destroyed (crypto-shredded).
var ErrUnknownKey = errors.New("unknown or destroyed key")

// CreateKeyring makes a fresh keyring directory under keyDir with a local KEK
// and one shared data key.
func CreateKeyring(keyDir string) error {
	return CreateKeyringKEK(context.Background(), keyDir, nil)
}

// CreateKeyringKEK makes a fresh keyring whose data keys kek wraps (a local
// kek.key when nil): with a KMS, no local key-encryption key ever touches
// the disk.
func CreateKeyringKEK(ctx context.Context, keyDir string, kek KEK) error {
	dir := filepath.Join(keyDir, KeyringDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create keyring: %w", err)
	}
	if kek == nil {
		key := make([]byte, 32)
		rand.Read(key)
		if err := WriteSecretFile(filepath.Join(dir, kekFile), []byte(hex.EncodeToString(key)+"\n")); err != nil {
			return err
		}
		local, err := NewLocalKEK(key)
		if err != nil {
			return err
		}
		kek = local
	}
	kr, err := openKeyring(ctx, dir, kek)
	if err != nil {
		return err
	}
	_, err = kr.newKey("")
	return err
}

// OpenKeyring loads keyDir/keyring with its local KEK.
func OpenKeyring(keyDir string) (*Keyring, error) {
	dir := filepath.Join(keyDir, KeyringDir)
	kekKey, err := ReadKeyFile(filepath.Join(dir, kekFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if name := wrappedBy(dir); name != "" {
				return nil, fmt.Errorf("keyring in %s is wrapped by %s, not by a local kek.key: configure that key (filter encryptor: kms { vault { ... } }; sentinel CLI: --vault-addr and --vault-key)", keyDir, name)
			}
			return nil, fmt.Errorf("no keyring in %s (create one with `sentinel keygen --out %s`)", keyDir, keyDir)
		}
		return nil, err
	}
	kek, err := NewLocalKEK(kekKey)
	if err != nil {
		return nil, err
	}
	return OpenKeyringWith(dir, kek)
}

// OpenKeyringKEK loads keyDir/keyring with a KEK held elsewhere (Vault).
// A keyring that has a local kek.key was not made for it and is refused
// rather than half-opened.
func OpenKeyringKEK(ctx context.Context, keyDir string, kek KEK) (*Keyring, error) {
	dir := filepath.Join(keyDir, KeyringDir)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("no keyring in %s (create one with `sentinel keygen --out %s` and the --vault-* flags)", keyDir, keyDir)
	}
	if _, err := os.Stat(filepath.Join(dir, kekFile)); err == nil {
		return nil, fmt.Errorf("keyring in %s is wrapped by its local kek.key, not by %s: move it with `sentinel keygen --rewrap --out %s` and the --vault-* flags, or remove the kms block", keyDir, kek.Name(), keyDir)
	}
	return openKeyring(ctx, dir, kek)
}

// wrappedBy is the KEK named by the first key file in dir, if any.
func wrappedBy(dir string) string {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if kf, err := readKeyFile(filepath.Join(dir, e.Name())); err == nil && kf.KEK != "" {
			return kf.KEK
		}
	}
	return ""
}

// unwrap returns the data key of kf, unwrapped by kek; name is the file's.
func (kf *keyFile) unwrap(ctx context.Context, kek KEK, name string) ([]byte, error) {
	wrapped, err := base64.RawURLEncoding.DecodeString(kf.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("key file %s: bad wrapped key", name)
	}
	key, err := kek.Unwrap(ctx, wrapped, dekAAD(kf.KID))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", kf.KID, err)
	}
	return key, nil
}

func readKeyFile(path string) (*keyFile, error) {
	if !strings.HasSuffix(path, ".json") {
		return nil, os.ErrNotExist
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("key file %s: %w", filepath.Base(path), err)
	}
	return &kf, nil
}

// dekAAD binds a wrapped DEK to its key id.
func dekAAD(kid string) []byte { return []byte("sentinel/dek/v1\x00" + kid) }

// OpenKeyringWith loads every DEK file in dir, unwrapping with kek.
func OpenKeyringWith(dir string, kek KEK) (*Keyring, error) {
	return openKeyring(context.Background(), dir, kek)
}

func openKeyring(ctx context.Context, dir string, kek KEK) (*Keyring, error) {
	kr := &Keyring{dir: dir, kek: kek, keys: map[string]*dek{}, subjects: map[string]string{}, RotateAfter: DefaultRotateAfter}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open keyring: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		kf, err := readKeyFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("open keyring: %w", err)
		}
		// Never try a KEK on a key another one wrapped: the answer would be a
		// misleading "corrupt key", or a request to the wrong KMS.
		if kf.KEK != "" && kf.KEK != kek.Name() {
			return nil, fmt.Errorf("open keyring: key %s was wrapped by %s, but the configured key-encryption key is %s", kf.KID, kf.KEK, kek.Name())
		}
		key, err := kf.unwrap(ctx, kek, e.Name())
		if err != nil {
			return nil, fmt.Errorf("open keyring: %w", err)
		}
		a, err := newFieldAEAD(key)
		clear(key)
		if err != nil {
			return nil, err
		}
		kr.keys[kf.KID] = &dek{kid: kf.KID, aead: a, subject: kf.Subject}
		if kf.Subject != "" {
			kr.subjects[kf.Subject] = kf.KID
		}
	}
	return kr, nil
}

// NewRawKeyring builds a keyring from one configured 32-byte key: every data
// key is derived from it and its key id, so rotation needs no storage.
// Per-subject keys need a keyring directory (they must be deletable).
func NewRawKeyring(raw []byte) (*Keyring, error) {
	if len(raw) != 32 {
		return nil, errors.New("raw key must be 32 bytes")
	}
	return &Keyring{raw: append([]byte(nil), raw...), keys: map[string]*dek{}, subjects: map[string]string{}, RotateAfter: DefaultRotateAfter}, nil
}

// newFieldAEAD is a data key's AEAD. Its nonces come from the keyring's
// buffer of random bytes (Keyring.nonce): as random as one read per field,
// at a read per 256 fields.
func newFieldAEAD(key []byte) (cipher.AEAD, error) { return newGCM(key, cipher.NewGCM) }

// newAEAD is the key-encryption key's AEAD, which draws its own nonces.
func newAEAD(key []byte) (cipher.AEAD, error) { return newGCM(key, cipher.NewGCMWithRandomNonce) }

func newGCM(key []byte, mode func(cipher.Block) (cipher.AEAD, error)) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes key: %w", err)
	}
	a, err := mode(block)
	if err != nil {
		return nil, fmt.Errorf("aes-gcm: %w", err)
	}
	return a, nil
}

var kidEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newKID() string {
	b := make([]byte, 5)
	rand.Read(b)
	return strings.ToLower(kidEncoding.EncodeToString(b))
}

// SubjectHash names a subject in the keyring without storing it.
func SubjectHash(subject string) string {
	h := sha256.Sum256([]byte("sentinel/subject/v1\x00" + subject))
	return hex.EncodeToString(h[:])
}

// newKey creates and, in directory mode, persists a data key.
func (kr *Keyring) newKey(subject string) (*dek, error) {
	kid := newKID()
	var key []byte
	if kr.raw != nil {
		if subject != "" {
			return nil, errors.New("per-subject keys need a keyring directory (keys = DIR), not a raw key")
		}
		k, err := hkdf.Key(sha256.New, kr.raw, nil, "sentinel/enc/v1/dek/"+kid, 32)
		if err != nil {
			return nil, fmt.Errorf("derive data key: %w", err)
		}
		key = k
	} else {
		key = make([]byte, 32)
		rand.Read(key)
		// Bounded below the host's default 30 s batch deadline, so that a
		// silent KMS fails the batch (to be retried) rather than the plugin.
		until := time.Now().Add(wrapTimeout)
		if !kr.wrapsUntil.IsZero() && kr.wrapsUntil.Before(until) {
			until = kr.wrapsUntil
		}
		ctx, cancel := context.WithDeadline(context.Background(), until)
		wrapped, err := kr.kek.Wrap(ctx, key, dekAAD(kid))
		cancel()
		if err != nil {
			return nil, keyUnavailable{fmt.Errorf("wrap data key: %w", err)}
		}
		kf := keyFile{Version: 1, KID: kid, KEK: kr.kek.Name(), Wrapped: base64.RawURLEncoding.EncodeToString(wrapped), Created: time.Now().UTC()}
		if subject != "" {
			kf.Subject = SubjectHash(subject)
		}
		b, _ := json.Marshal(kf)
		if err := WriteSecretFile(filepath.Join(kr.dir, kid+".json"), b); err != nil {
			return nil, keyUnavailable{err}
		}
	}
	a, err := newFieldAEAD(key)
	if err != nil {
		return nil, err
	}
	d := &dek{kid: kid, aead: a}
	kr.keys[kid] = d
	if subject != "" {
		d.subject = SubjectHash(subject)
		kr.subjects[d.subject] = kid
	}
	return d, nil
}

// lookup finds the AEAD for kid, deriving it in raw-key mode.
func (kr *Keyring) lookup(kid string) (*dek, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if d, ok := kr.keys[kid]; ok {
		return d, nil
	}
	if kr.raw != nil && validKID(kid) {
		k, err := hkdf.Key(sha256.New, kr.raw, nil, "sentinel/enc/v1/dek/"+kid, 32)
		if err != nil {
			return nil, err
		}
		a, err := newFieldAEAD(k)
		if err != nil {
			return nil, err
		}
		d := &dek{kid: kid, aead: a}
		kr.keys[kid] = d
		return d, nil
	}
	return nil, fmt.Errorf("key %q: %w", kid, ErrUnknownKey)
}

func validKID(kid string) bool {
	if len(kid) < 4 || len(kid) > 32 {
		return false
	}
	for _, c := range kid {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// keyFor returns the key to encrypt with: the subject's own key (created on
// first use) or the shared key, rotated after RotateAfter uses. A fresh shared
// key is made at each start, so use counts never outlive the process.
func (kr *Keyring) keyFor(subject string) (*dek, [nonceSize]byte, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	d, err := kr.keyForLocked(subject)
	if err != nil {
		return nil, [nonceSize]byte{}, err
	}
	return d, kr.nonce(), nil
}

func (kr *Keyring) keyForLocked(subject string) (*dek, error) {
	if subject != "" {
		if subject == kr.lastSubject && kr.lastKey != nil {
			return kr.lastKey, nil
		}
		d, ok := kr.keys[kr.subjects[SubjectHash(subject)]]
		if !ok {
			var err error
			if d, err = kr.newKey(subject); err != nil {
				return nil, err
			}
		}
		kr.lastSubject, kr.lastKey = subject, d
		return d, nil
	}
	if kr.active == nil || kr.activeUses >= kr.RotateAfter {
		d, err := kr.newKey("")
		if err != nil {
			return nil, err
		}
		kr.active, kr.activeUses = d, 0
	}
	kr.activeUses++
	return kr.active, nil
}

// ActiveKID is the id of the shared key currently encrypting, if any.
func (kr *Keyring) ActiveKID() string {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.active == nil {
		return ""
	}
	return kr.active.kid
}

// Len is the number of data keys held.
func (kr *Keyring) Len() int {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return len(kr.keys)
}

// Shred destroys the subject's key file, making every field encrypted for
// that subject unreadable. It returns the destroyed key id.
func (kr *Keyring) Shred(subject string) (string, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.dir == "" {
		return "", errors.New("shred needs a keyring directory")
	}
	h := SubjectHash(subject)
	kid, ok := kr.subjects[h]
	if !ok {
		return "", fmt.Errorf("no key for that subject")
	}
	if err := os.Remove(filepath.Join(kr.dir, kid+".json")); err != nil {
		return "", fmt.Errorf("shred: %w", err)
	}
	delete(kr.subjects, h)
	delete(kr.keys, kid)
	kr.lastSubject, kr.lastKey = "", nil
	return kid, nil
}

// ErrKeyUnavailable marks a data key that could not be made or stored right
// now: the KMS unreachable, sealed, throttling or refusing (an expired
// token), or the key file unwritable. The event is not at fault, so callers
// retry it later instead of rejecting it.
var ErrKeyUnavailable = errors.New("data key unavailable")

// wrapTimeout bounds wrapping one new data key, retries included.
const wrapTimeout = 20 * time.Second

type keyUnavailable struct{ err error }

func (e keyUnavailable) Error() string        { return e.err.Error() }
func (e keyUnavailable) Unwrap() error        { return e.err }
func (e keyUnavailable) Is(target error) bool { return target == ErrKeyUnavailable }
