package chronicle

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/sentinel-audit/sentinel/plugins/output/internal/httpout"
	"github.com/sentinel-audit/sentinel/sdk"
)

// serviceAccount is the part of a Google service-account key file we use.
type serviceAccount struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
	key          *rsa.PrivateKey
}

func loadServiceAccount(path string) (*serviceAccount, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, sdk.Fieldf("credentials_file", "read: %v", err)
	}
	var sa serviceAccount
	if err := json.Unmarshal(b, &sa); err != nil {
		return nil, sdk.Fieldf("credentials_file", "not a service-account JSON key: %v", err)
	}
	if sa.Type != "service_account" || sa.ClientEmail == "" || sa.PrivateKey == "" {
		return nil, sdk.Fieldf("credentials_file", "not a service-account key (type %q)", sa.Type)
	}
	if sa.TokenURI == "" {
		sa.TokenURI = "https://oauth2.googleapis.com/token"
	}
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	if block == nil {
		return nil, sdk.Fieldf("credentials_file", "private_key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if k1, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 == nil {
			k, err = k1, nil
		}
	}
	rk, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, sdk.Fieldf("credentials_file", "private_key is not an RSA key")
	}
	sa.key = rk
	return &sa, nil
}

// assertion is the RFC 7523 JWT a service account trades for an access token.
func (sa *serviceAccount) assertion(scope string, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": sa.PrivateKeyID})
	claims, _ := json.Marshal(map[string]any{
		"iss": sa.ClientEmail, "scope": scope, "aud": sa.TokenURI,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, sa.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign token assertion: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

func (o *Output) fetchToken(ctx context.Context) (httpout.Token, error) {
	o.tokenFetches.Add(1)
	jwt, err := o.sa.assertion(o.cfg.Scope, time.Now())
	if err != nil {
		return httpout.Token{}, &httpout.TokenError{Err: err, Permanent: true}
	}
	return httpout.PostTokenForm(ctx, o.client, o.sa.TokenURI, url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {jwt},
	})
}
