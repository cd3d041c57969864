package fieldcrypt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sentinel-audit/sentinel/sdk"
)

// VaultConfig locates a HashiCorp Vault transit key that wraps data keys.
type VaultConfig struct {
	// Address is Vault's base URL, e.g. "https://vault.example.com:8200".
	Address string
	// Mount is the transit engine's mount path; default "transit".
	Mount string
	// Key is the transit key's name. It must be an AEAD key (aes256-gcm96,
	// the transit default) and must not be derived or convergent.
	Key string
	// Token is a Vault token. When empty, TokenFile is read at every request
	// (so a Vault Agent sink that renews the token is followed), else the
	// environment variable TokenEnv (default VAULT_TOKEN).
	Token     string
	TokenFile string
	TokenEnv  string
	// Namespace is sent as X-Vault-Namespace (Vault Enterprise, HCP).
	Namespace string
	// CAFile is a PEM bundle to trust instead of the system pool.
	CAFile string
	// Timeout bounds one request; default 10s.
	Timeout time.Duration
	// Attempts is how often a request is tried when Vault answers 5xx or 429
	// or cannot be reached; default 4.
	Attempts int
}

// VaultKEK wraps data keys with a Vault transit key: POST <mount>/encrypt/<key>
// and <mount>/decrypt/<key>. The DEK is sent to Vault and comes back, never
// stored unwrapped; Vault never sees the fields it protects.
//
// Binding the AAD: transit's `context` only exists for derived keys, and
// `associated_data` arrived in Vault 1.12 for AEAD key types only; a server
// that predates it ignores the unknown parameter with a warning, which would
// drop the binding without anyone noticing. So the AAD is bound inside the
// wrapped plaintext instead: Vault encrypts 0x01 ‖ SHA-256(AAD) ‖ DEK, and
// Unwrap refuses a plaintext whose hash differs. This works on every Vault
// and OpenBao version and key type, and the check runs here, not on trust.
//
// Key versions: the ciphertext is kept exactly as Vault returns it
// ("vault:v3:..."), so after `vault write -f transit/keys/<key>/rotate` new
// DEKs use the new version while old ones still unwrap. Raising the key's
// min_decryption_version past the version of a stored DEK makes that DEK,
// and every field encrypted under it, unreadable until the setting is
// lowered again: rewrap the keyring (RewrapKeyring) before raising it.
type VaultKEK struct {
	cfg    VaultConfig
	client *http.Client
	base   string // Address + "/v1/" + escaped mount
	where  string // "<mount>/<key> at <address>", for errors
}

// vaultEnvelopeVersion is the first byte of the plaintext handed to Vault.
const vaultEnvelopeVersion = 1

// NewVaultKEK checks cfg and builds the client. It does not contact Vault.
func NewVaultKEK(cfg VaultConfig) (*VaultKEK, error) {
	if cfg.Mount == "" {
		cfg.Mount = "transit"
	}
	if cfg.TokenEnv == "" {
		cfg.TokenEnv = "VAULT_TOKEN"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if err := CheckVaultAddress(cfg.Address); err != nil {
		return nil, err
	}
	cfg.Mount = strings.Trim(cfg.Mount, "/")
	if cfg.Mount == "" || cfg.Key == "" || strings.Contains(cfg.Key, "/") {
		return nil, errors.New("vault transit: mount and key must be set, and key must not contain '/'")
	}
	k := &VaultKEK{cfg: cfg}
	addr := strings.TrimRight(cfg.Address, "/")
	var segs []string
	for _, s := range strings.Split(cfg.Mount, "/") {
		segs = append(segs, url.PathEscape(s))
	}
	k.base = addr + "/v1/" + strings.Join(segs, "/")
	k.where = cfg.Mount + "/" + cfg.Key + " at " + addr
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pool, err := sdk.CertPool(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("vault ca_file: %w", err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	k.client = &http.Client{Transport: tr, Timeout: cfg.Timeout}
	return k, nil
}

// CheckVaultAddress accepts an http or https URL with a host.
func CheckVaultAddress(addr string) error {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("vault address %q: must be a URL such as https://vault.example.com:8200", addr)
	}
	return nil
}

// Name records the transit key in each key file, so that a keyring is never
// opened with another KEK. The address is left out: a Vault cluster may move
// or be reached through another name and still hold the same key.
func (k *VaultKEK) Name() string {
	name := "vault-transit:"
	if k.cfg.Namespace != "" {
		name += strings.Trim(k.cfg.Namespace, "/") + "/"
	}
	return name + k.cfg.Mount + "/" + k.cfg.Key
}

// Wrap asks Vault to encrypt the DEK bound to aad; the result is Vault's
// ciphertext string ("vault:vN:...").
func (k *VaultKEK) Wrap(ctx context.Context, dek, aad []byte) ([]byte, error) {
	env := make([]byte, 0, 1+sha256.Size+len(dek))
	env = append(env, vaultEnvelopeVersion)
	h := sha256.Sum256(aad)
	env = append(append(env, h[:]...), dek...)
	body, _ := json.Marshal(map[string]string{"plaintext": base64.StdEncoding.EncodeToString(env)})
	clear(env)
	var out struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
		} `json:"data"`
	}
	err := k.call(ctx, "encrypt", body, &out)
	clear(body)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(out.Data.Ciphertext, "vault:v") {
		return nil, fmt.Errorf("vault transit encrypt on %s: answer has no vault:vN: ciphertext", k.where)
	}
	return []byte(out.Data.Ciphertext), nil
}

// Unwrap asks Vault to decrypt a wrapped DEK and checks its AAD binding.
func (k *VaultKEK) Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error) {
	if !bytes.HasPrefix(wrapped, []byte("vault:v")) {
		return nil, fmt.Errorf("wrapped key is not a Vault transit ciphertext (for %s)", k.where)
	}
	body, _ := json.Marshal(map[string]string{"ciphertext": string(wrapped)})
	var out struct {
		Data struct {
			Plaintext string `json:"plaintext"`
		} `json:"data"`
	}
	if err := k.call(ctx, "decrypt", body, &out); err != nil {
		return nil, err
	}
	env, err := base64.StdEncoding.DecodeString(out.Data.Plaintext)
	out.Data.Plaintext = ""
	if err != nil || len(env) != 1+sha256.Size+32 || env[0] != vaultEnvelopeVersion {
		clear(env)
		return nil, fmt.Errorf("vault transit decrypt on %s: the plaintext is not a data key wrapped by Sentinel", k.where)
	}
	h := sha256.Sum256(aad)
	if subtle.ConstantTimeCompare(env[1:1+sha256.Size], h[:]) != 1 {
		clear(env)
		return nil, fmt.Errorf("vault transit decrypt on %s: data key bound to another key id (key file altered or swapped)", k.where)
	}
	dek := append([]byte(nil), env[1+sha256.Size:]...)
	clear(env)
	return dek, nil
}

// vaultError is an error answer: {"errors": ["..."]}.
type vaultError struct {
	Errors []string `json:"errors"`
}

// call POSTs body to <mount>/<op>/<key> and decodes the answer into out,
// retrying with backoff when Vault is unreachable, sealed, overloaded or
// rate limiting. Errors name the address, mount and key, and carry Vault's
// own message, never the request or response body.
func (k *VaultKEK) call(ctx context.Context, op string, body []byte, out any) error {
	u := k.base + "/" + op + "/" + url.PathEscape(k.cfg.Key)
	tok, err := k.token()
	if err != nil {
		return fmt.Errorf("vault transit %s on %s: %w", op, k.where, err)
	}
	backoff := 100 * time.Millisecond
	var last error
	for attempt := 1; ; attempt++ {
		status, msg, err := k.post(ctx, u, tok, body, out)
		switch {
		case err == nil && status == http.StatusOK:
			return nil
		case err != nil:
			if ctx.Err() != nil {
				return fmt.Errorf("vault transit %s on %s: %w", op, k.where, ctx.Err())
			}
			var cert *tls.CertificateVerificationError
			if errors.As(err, &cert) { // a misconfiguration: waiting will not cure it
				return fmt.Errorf("vault at %s: TLS certificate not trusted (set ca_file): %v", k.cfg.Address, err)
			}
			last = fmt.Errorf("vault at %s unreachable: %v", k.cfg.Address, err)
		case status == http.StatusForbidden:
			return fmt.Errorf("vault denied transit %s on %s: check the token's policy (%s)", op, k.where, msg)
		case status == http.StatusTooManyRequests || status >= 500:
			last = fmt.Errorf("vault answered %d: %s", status, msg)
		case status == http.StatusBadRequest && op == "decrypt":
			return fmt.Errorf("vault transit decrypt on %s refused the wrapped key (%s): wrong key, corrupt key file, or a key version below min_decryption_version", k.where, msg)
		case status == http.StatusNotFound:
			return fmt.Errorf("vault transit %s on %s: not found (%s): check the mount and key names", op, k.where, msg)
		default:
			return fmt.Errorf("vault transit %s on %s: %d: %s", op, k.where, status, msg)
		}
		if attempt >= k.cfg.Attempts {
			return fmt.Errorf("vault transit %s on %s failed after %d attempts: %w", op, k.where, attempt, last)
		}
		// Jitter (a wait between half and all of the backoff) keeps
		// restarting hosts from retrying in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("vault transit %s on %s: %w (last: %v)", op, k.where, ctx.Err(), last)
		case <-time.After(wait):
		}
		backoff *= 2
	}
}

// post sends one request. On a non-200 answer it returns Vault's error text.
func (k *VaultKEK) post(ctx context.Context, u, tok string, body []byte, out any) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Vault-Token", tok)
	req.Header.Set("X-Vault-Request", "true")
	if k.cfg.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", k.cfg.Namespace)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in our message
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", err
	}
	defer clear(raw)
	if resp.StatusCode != http.StatusOK {
		var ve vaultError
		_ = json.Unmarshal(raw, &ve)
		msg := strings.Join(ve.Errors, "; ")
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return resp.StatusCode, msg, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return resp.StatusCode, "", fmt.Errorf("answer is not transit JSON")
	}
	return resp.StatusCode, "", nil
}

// token finds the Vault token; its value never appears in an error.
func (k *VaultKEK) token() (string, error) {
	if k.cfg.Token != "" {
		return k.cfg.Token, nil
	}
	if k.cfg.TokenFile != "" {
		b, err := os.ReadFile(k.cfg.TokenFile)
		if err != nil {
			return "", fmt.Errorf("vault token_file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("vault token_file %s is empty", k.cfg.TokenFile)
	}
	if t := os.Getenv(k.cfg.TokenEnv); t != "" {
		return t, nil
	}
	return "", fmt.Errorf("no Vault token: set %s (or token / token_file)", k.cfg.TokenEnv)
}

var _ KEK = (*VaultKEK)(nil)
