package fieldcrypt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKeyring(t *testing.T) (string, *Keyring) {
	t.Helper()
	dir := t.TempDir()
	if err := CreateKeyring(dir); err != nil {
		t.Fatal(err)
	}
	kr, err := OpenKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, kr
}

const event = `{"event_id":"01J0","user_id":"alice","arguments":{"password":"hunter2","path":"/etc","n":42},"result":{"rows":[1,2]}}`

func TestEncryptDecryptRoundTripKeepsTypes(t *testing.T) {
	_, kr := testKeyring(t)
	f, _ := CompileFields([]string{"arguments.*", "result", "missing.field"})
	enc, n, err := kr.EncryptEvent([]byte(event), f, "", "01J0")
	if err != nil || n != 4 {
		t.Fatalf("encrypted %d fields, err %v", n, err)
	}
	if strings.Contains(string(enc), "hunter2") || strings.Contains(string(enc), "rows") {
		t.Fatalf("plaintext left: %s", enc)
	}
	if !strings.Contains(string(enc), `"$enc:v1.`) {
		t.Fatalf("encoding: %s", enc)
	}
	dec, errs := kr.DecryptEvent(enc, "01J0")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, want := range []string{`"password":"hunter2"`, `"n":42`, `"rows":[1,2]`} {
		if !strings.Contains(string(dec), want) {
			t.Fatalf("decrypted %s lacks %s", dec, want)
		}
	}
}

func TestCiphertextBoundToEventAndField(t *testing.T) {
	_, kr := testKeyring(t)
	var enc []byte
	enc, _ = kr.AppendEncrypted(enc, []byte(`"secret"`), "", "ev1", "arguments.password")
	s := strings.Trim(string(enc), `"`)
	if _, err := kr.Decrypt(s, "ev2", "arguments.password"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("moved to another event: %v", err)
	}
	if _, err := kr.Decrypt(s, "ev1", "arguments.token"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("moved to another field: %v", err)
	}
	bad := s[:len(s)-3] + "AAA"
	_, err := kr.Decrypt(bad, "ev1", "arguments.password")
	if !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("corrupt ciphertext: %v", err)
	}
}

func TestPartsTheAADCannotFrameAreRefused(t *testing.T) {
	_, kr := testKeyring(t)
	long := strings.Repeat("k", 1<<16)
	if _, err := kr.AppendEncrypted(nil, []byte(`1`), "", "ev1", "arguments."+long); !errors.Is(err, ErrAADTooLong) {
		t.Fatalf("path of 64 KiB: %v", err)
	}
	if _, err := kr.AppendEncrypted(nil, []byte(`1`), "", long, "arguments.n"); !errors.Is(err, ErrAADTooLong) {
		t.Fatalf("event id of 64 KiB: %v", err)
	}
	// A "*" pattern takes the key from the event: a client's long key is
	// refused, not encrypted under an AAD that could match another field.
	f, _ := CompileFields([]string{"arguments.*"})
	body := `{"arguments":{"` + long + `":"secret"}}`
	if _, _, err := kr.EncryptEvent([]byte(body), f, "", "ev1"); !errors.Is(err, ErrAADTooLong) {
		t.Fatalf("event with a 64 KiB key under arguments.*: %v", err)
	}
	enc, err := kr.AppendEncrypted(nil, []byte(`"secret"`), "", "ev1", "arguments.password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Decrypt(strings.Trim(string(enc), `"`), "ev1", "arguments."+long); !errors.Is(err, ErrAADTooLong) {
		t.Fatalf("decrypt with a 64 KiB path: %v", err)
	}
}

func TestWrongKeyringAndMissingKeyringFailClearly(t *testing.T) {
	_, kr := testKeyring(t)
	_, other := testKeyring(t)
	enc, _ := kr.AppendEncrypted(nil, []byte(`"x"`), "", "e", "f")
	if _, err := other.Decrypt(strings.Trim(string(enc), `"`), "e", "f"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("wrong keyring: %v", err)
	}
	if _, err := OpenKeyring(t.TempDir()); err == nil || !strings.Contains(err.Error(), "sentinel keygen") {
		t.Fatalf("missing keyring: %v", err)
	}
}

func TestCryptoShreddingOneSubject(t *testing.T) {
	dir, kr := testKeyring(t)
	f, _ := CompileFields([]string{"arguments.password"})
	alice, _, _ := kr.EncryptEvent([]byte(event), f, "alice", "01J0")
	bob, _, _ := kr.EncryptEvent([]byte(event), f, "bob", "01J0")
	if _, err := kr.Shred("alice"); err != nil {
		t.Fatal(err)
	}
	reopened, err := OpenKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := reopened.DecryptEvent(alice, "01J0"); len(errs) != 1 || !errors.Is(errs[0], ErrUnknownKey) {
		t.Fatalf("shredded subject still readable: %v", errs)
	}
	if out, errs := reopened.DecryptEvent(bob, "01J0"); len(errs) != 0 || !strings.Contains(string(out), "hunter2") {
		t.Fatalf("other subject lost: %v", errs)
	}
}

func TestDataKeyRotatesAfterBudget(t *testing.T) {
	dir, kr := testKeyring(t)
	kr.RotateAfter = 3
	seen := map[string]bool{}
	for i := 0; i < 7; i++ {
		enc, _ := kr.AppendEncrypted(nil, []byte(`1`), "", "e", "f")
		kid, _ := KeyID(strings.Trim(string(enc), `"`))
		seen[kid] = true
		if _, err := kr.Decrypt(strings.Trim(string(enc), `"`), "e", "f"); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 3 {
		t.Fatalf("%d data keys for 7 uses at 3 per key", len(seen))
	}
	files, _ := filepath.Glob(filepath.Join(dir, KeyringDir, "*.json"))
	for _, p := range files {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", p, fi.Mode().Perm())
		}
	}
}

func TestRawKeyInOpensslHexFormat(t *testing.T) {
	raw, err := ParseKey([]byte("8f1e3c5d7a9b2c4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewRawKeyring(raw)
	b, _ := NewRawKeyring(raw)
	enc, _ := a.AppendEncrypted(nil, []byte(`"v"`), "", "e", "f")
	if out, err := b.Decrypt(strings.Trim(string(enc), `"`), "e", "f"); err != nil || string(out) != `"v"` {
		t.Fatalf("raw key round trip: %s %v", out, err)
	}
	if _, err := ParseKey([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

// A field inside another configured field is encrypted once, as part of the
// outer one; the input body is left as it was.
func TestNestedFieldsEncryptTheOuterOnce(t *testing.T) {
	_, kr := testKeyring(t)
	f, _ := CompileFields([]string{"arguments.password", "arguments", "user_id"})
	in := []byte(event)
	enc, n, err := kr.EncryptEvent(in, f, "", "01J0")
	if err != nil || n != 2 {
		t.Fatalf("encrypted %d fields, err %v", n, err)
	}
	if string(in) != event {
		t.Fatal("EncryptEvent modified its input")
	}
	dec, errs := kr.DecryptEvent(enc, "01J0")
	if len(errs) > 0 || string(dec) != event {
		t.Fatalf("round trip: %s %v", dec, errs)
	}
}

// testdata/previous holds a keyring and events encrypted by the previous
// release, whose AEAD drew its own nonces: they still decrypt.
func TestDecryptsPreviousReleasesFields(t *testing.T) {
	kr, err := OpenKeyring(filepath.Join("testdata", "previous"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "previous", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		id := fmt.Sprintf("ev%04d", i)
		dec, errs := kr.DecryptEvent([]byte(ev), id)
		want := fmt.Sprintf(`"password":"pw-%d"`, i)
		if len(errs) > 0 || !strings.Contains(string(dec), want) || !strings.Contains(string(dec), `"result":{"ok":true}`) {
			t.Fatalf("event %d: %s %v", i, dec, errs)
		}
	}
}

// Every field gets its own nonce, across refills of the keyring's buffer of
// random bytes, and the same plaintext never encrypts the same way twice.
func TestNoncesNeverRepeat(t *testing.T) {
	_, kr := testKeyring(t)
	seen := map[string]bool{}
	for i := range 2000 {
		enc, err := kr.AppendEncrypted(nil, []byte(`"same"`), "", "ev", "f")
		if err != nil {
			t.Fatal(err)
		}
		_, _, payload, err := split(strings.Trim(string(enc), `"`))
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := base64.RawURLEncoding.DecodeString(payload)
		if err != nil || len(sealed) != nonceSize+len(`"same"`)+16 {
			t.Fatalf("payload %d: %v", i, err)
		}
		nonce := string(sealed[:nonceSize])
		if seen[nonce] || nonce == string(make([]byte, nonceSize)) {
			t.Fatalf("nonce repeated (or zero) at field %d", i)
		}
		seen[nonce] = true
	}
}

// After a subject's key is shredded, the subject's next field gets a new
// key: never the destroyed one, even though it was the last one used.
func TestShreddedSubjectGetsANewKey(t *testing.T) {
	_, kr := testKeyring(t)
	first, err := kr.AppendEncrypted(nil, []byte(`"a"`), "alice", "ev1", "f")
	if err != nil {
		t.Fatal(err)
	}
	oldKID, err := kr.Shred("alice")
	if err != nil {
		t.Fatal(err)
	}
	second, err := kr.AppendEncrypted(nil, []byte(`"b"`), "alice", "ev2", "f")
	if err != nil {
		t.Fatal(err)
	}
	newKID, err := KeyID(strings.Trim(string(second), `"`))
	if err != nil || newKID == oldKID {
		t.Fatalf("key %q after shredding %q (%v)", newKID, oldKID, err)
	}
	if _, err := kr.Decrypt(strings.Trim(string(first), `"`), "ev1", "f"); err == nil {
		t.Fatal("a shredded field decrypted")
	}
	if plain, err := kr.Decrypt(strings.Trim(string(second), `"`), "ev2", "f"); err != nil || string(plain) != `"b"` {
		t.Fatalf("new field: %s %v", plain, err)
	}
}
