// Package httpouttest gives output tests a real TLS destination: a private
// CA, a server certificate for 127.0.0.1 and a client certificate, written to
// PEM files the way a user would configure them, and helpers to read gzipped
// request bodies.
package httpouttest

import (
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throwaway certificate authority with its files on disk.
type PKI struct {
	CAFile, CertFile, KeyFile string // CA bundle and client certificate/key, for tls {}
	caCert                    *x509.Certificate
	caKey                     *ecdsa.PrivateKey
	pool                      *x509.CertPool
	server                    tls.Certificate
}

// NewPKI creates the CA, a server certificate for 127.0.0.1/localhost and a client certificate.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sentinel test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER := must(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey))
	caCert := must(x509.ParseCertificate(caDER))
	p := &PKI{caCert: caCert, caKey: caKey, pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	p.CAFile = filepath.Join(dir, "ca.pem")
	writePEM(t, p.CAFile, "CERTIFICATE", caDER)

	srvDER, srvKey := p.issue(2, &x509.Certificate{
		Subject: pkix.Name{CommonName: "127.0.0.1"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}

	cliDER, cliKey := p.issue(3, &x509.Certificate{
		Subject: pkix.Name{CommonName: "sentinel client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.CertFile, p.KeyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	writePEM(t, p.CertFile, "CERTIFICATE", cliDER)
	writePEM(t, p.KeyFile, "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(cliKey)))
	return p
}

func (p *PKI) issue(serial int64, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	return must(x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)), key
}

// Server starts an HTTPS server with the PKI's server certificate. With
// requireClientCert, a client without a certificate signed by the CA is refused.
func (p *PKI) Server(t testing.TB, h http.Handler, requireClientCert bool) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	// Refused handshakes are what some tests are about; keep them out of the output.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		s.TLS.ClientAuth, s.TLS.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// Body reads a request body, gunzipping it when Content-Encoding says gzip.
func Body(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		rd = zr
	}
	return io.ReadAll(rd)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
