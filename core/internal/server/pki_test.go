package server_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a throw-away CA with the server and client certificates the
// tests need, written to files as an operator would have them.
type testPKI struct {
	t      testing.TB
	dir    string
	ca     *x509.Certificate
	caKey  crypto.Signer
	caFile string
	pool   *x509.CertPool
	serial int64
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{t: t, dir: t.TempDir(), serial: 1}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Provisor Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.caFile = p.write("ca.pem", "CERTIFICATE", der)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	return p
}

func (p *testPKI) write(name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// issue makes a certificate signed by the CA; rsaKey picks RSA-2048 over
// ECDSA P-256.
func (p *testPKI) issue(tmpl *x509.Certificate, rsaKey bool) (tls.Certificate, []byte, crypto.Signer) {
	p.t.Helper()
	var key crypto.Signer
	if rsaKey {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	p.serial++
	tmpl.SerialNumber = big.NewInt(p.serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, der, key
}

// serverFiles writes a server certificate for loopback and returns the
// certificate and key file names.
func (p *testPKI) serverFiles(name string, rsaKey bool) (certFile, keyFile string) {
	p.t.Helper()
	_, der, key := p.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, rsaKey)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(name+".pem", "CERTIFICATE", der), p.write(name+".key", "PRIVATE KEY", kder)
}

// client makes a client certificate with the subject's CN and
// serialNumber.
func (p *testPKI) client(cn, serialNumber string) tls.Certificate {
	c, _, _ := p.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, SerialNumber: serialNumber},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, false)
	return c
}

// clientTLS is what a CPE that trusts the test CA uses; certs are its
// client certificates.
func (p *testPKI) clientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.pool, Certificates: certs, ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

// otherCA is a CA nobody trusts, for certificates that must fail.
func otherCA(t testing.TB) *testPKI { return newPKI(t) }

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }
