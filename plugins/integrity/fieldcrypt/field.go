package fieldcrypt

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
)

// Prefix starts every encrypted field value: `$enc:v1.<kid>.<base64url>`,
// where the payload is nonce ‖ ciphertext ‖ tag and the plaintext is the
// field's original JSON value, so numbers and objects round-trip with type.
const Prefix = "$enc:"

const version = "v1"

// ErrCorrupt means an encrypted value does not parse or does not
// authenticate: modified, moved to another field or event, or under a
// different key with the same id.
var ErrCorrupt = errors.New("ciphertext corrupt or not for this field and event")

// ErrAADTooLong refuses an event id or field path the AAD cannot frame:
// each part carries a 16-bit length, and a longer part would make two
// different (event, field) pairs share an AAD.
var ErrAADTooLong = errors.New("event id or field path longer than 65535 bytes")

func aadFits(kid, eventID, path string) bool {
	return max(len(kid), len(eventID), len(path)) <= math.MaxUint16
}

// aad binds the format version, key id, event id and field path, so a
// ciphertext cut from one field or event and pasted into another fails.
func aad(dst []byte, kid, eventID, path string) []byte {
	dst = append(dst, "sentinel/enc/v1\x00"...)
	for _, s := range [...]string{version, kid, eventID, path} {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// AppendEncrypted appends the JSON string "$enc:v1.<kid>.<payload>" for the
// JSON value plain of field path in event eventID, under the subject's key
// (or the shared key when subject is empty).
func (kr *Keyring) AppendEncrypted(dst, plain []byte, subject, eventID, path string) ([]byte, error) {
	if !aadFits("", eventID, path) {
		return dst, ErrAADTooLong
	}
	d, nonce, err := kr.keyFor(subject)
	if err != nil {
		return dst, err
	}
	// The AAD, the nonce and the sealed payload share one pooled buffer, and
	// Seal is handed the nonce from there: on the stack they would escape
	// through the AEAD interface, an allocation each per field.
	bp := scratchPool.Get().(*[]byte)
	ad := aad((*bp)[:0], d.kid, eventID, path)
	sealed := append(ad[len(ad):], nonce[:]...)
	sealed = d.aead.Seal(sealed, sealed[:nonceSize], plain, ad) // nonce ‖ ciphertext ‖ tag
	dst = append(dst, '"')
	dst = append(dst, Prefix...)
	dst = append(dst, version...)
	dst = append(dst, '.')
	dst = append(dst, d.kid...)
	dst = append(dst, '.')
	dst = appendBase64(dst, sealed)
	if cap(sealed) > cap(ad)-len(ad) {
		*bp = sealed[:0] // Seal needed a larger array: keep that one
	} else {
		*bp = ad[:0]
	}
	if cap(*bp) <= 64<<10 { // no huge field pins its buffer
		scratchPool.Put(bp)
	}
	return append(dst, '"'), nil
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// IsEncrypted reports whether a decoded JSON string is an encrypted field.
func IsEncrypted(s string) bool { return strings.HasPrefix(s, Prefix) }

// KeyID returns the key id named by an encrypted value.
func KeyID(s string) (string, error) {
	_, kid, _, err := split(s)
	return kid, err
}

func split(s string) (ver, kid, payload string, err error) {
	if !strings.HasPrefix(s, Prefix) {
		return "", "", "", fmt.Errorf("not an encrypted value: %w", ErrCorrupt)
	}
	parts := strings.SplitN(s[len(Prefix):], ".", 3)
	if len(parts) != 3 {
		return "", "", "", fmt.Errorf("malformed encrypted value: %w", ErrCorrupt)
	}
	if parts[0] != version {
		return "", "", "", fmt.Errorf("unsupported encryption format %q: %w", parts[0], ErrCorrupt)
	}
	return parts[0], parts[1], parts[2], nil
}

// Decrypt returns the JSON value hidden in an encrypted value of field path
// in event eventID. Errors never contain plaintext.
func (kr *Keyring) Decrypt(s, eventID, path string) ([]byte, error) {
	_, kid, payload, err := split(s)
	if err != nil {
		return nil, err
	}
	sealed, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("key %s: bad base64: %w", kid, ErrCorrupt)
	}
	d, err := kr.lookup(kid)
	if err != nil {
		return nil, err
	}
	if !aadFits(kid, eventID, path) {
		return nil, ErrAADTooLong
	}
	var abuf [128]byte
	if len(sealed) < nonceSize+d.aead.Overhead() {
		return nil, fmt.Errorf("key %s, field %s: %w", kid, path, ErrCorrupt)
	}
	plain, err := d.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], aad(abuf[:0], kid, eventID, path))
	if err != nil {
		return nil, fmt.Errorf("key %s, field %s: %w", kid, path, ErrCorrupt)
	}
	return plain, nil
}
