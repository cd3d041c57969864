package sdk

import (
	"crypto/x509"
	"fmt"
	"os"
)

// CertPool reads a PEM file of CA certificates to trust instead of the
// system's, for a plugin's ca_file setting.
func CertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificates in %s", file)
	}
	return pool, nil
}
