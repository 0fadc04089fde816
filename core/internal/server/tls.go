package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// TLSOptions configure the HTTPS endpoint.
type TLSOptions struct {
	// CertFile and KeyFile are PEM files: the certificate chain, leaf
	// first, and its private key.
	CertFile, KeyFile string
	// ClientCAFile, when set, is a PEM bundle of the CAs whose client
	// certificates authenticate devices. A CPE may then present one; a
	// certificate that does not verify fails the handshake.
	ClientCAFile string
	// RequireClientCert refuses handshakes without a client certificate.
	RequireClientCert bool
	// DisableSessionTickets turns TLS session resumption off.
	DisableSessionTickets bool
	// LegacyCiphers also offers TLS_RSA_WITH_AES_128_CBC_SHA, the suite
	// TR-069 makes mandatory for CPEs, to devices that offer nothing
	// better. It has no forward secrecy; enable it only for such fleets.
	LegacyCiphers bool
}

// TLS is the HTTPS endpoint's configuration. Its certificate and client
// CA bundle are swapped atomically by Reload, so a renewed certificate
// takes effect for the next handshake without dropping a connection.
type TLS struct {
	opts TLSOptions
	// Config is what the listener uses; it reads the current certificate
	// and CA pool on every handshake.
	Config *tls.Config
	cert   atomic.Pointer[tls.Certificate]
	pool   atomic.Pointer[x509.CertPool]
}

// NewTLS loads the files and builds the configuration.
func NewTLS(o TLSOptions) (*TLS, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("tls: a certificate and a key file are needed")
	}
	t := &TLS{opts: o}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return t.cert.Load(), nil
		},
		// CPEs speak HTTP/1.1; the session engine keys sessions on the TCP
		// connection, which HTTP/2 would multiplex.
		NextProtos:             []string{"http/1.1"},
		SessionTicketsDisabled: o.DisableSessionTickets,
	}
	if o.LegacyCiphers {
		for _, cs := range tls.CipherSuites() {
			cfg.CipherSuites = append(cfg.CipherSuites, cs.ID)
		}
		cfg.CipherSuites = append(cfg.CipherSuites, tls.TLS_RSA_WITH_AES_128_CBC_SHA)
	}
	if o.ClientCAFile != "" {
		// The chain is verified here rather than through ClientCAs so
		// that Reload can swap the CA pool too. VerifyConnection also runs
		// on resumed sessions, so a certificate issued by a CA that has
		// since been removed stops working at once.
		cfg.ClientAuth = tls.RequestClientCert
		if o.RequireClientCert {
			cfg.ClientAuth = tls.RequireAnyClientCert
		}
		cfg.VerifyConnection = t.verifyClient
	}
	t.Config = cfg
	return t, nil
}

// Reload reads the certificate, key and CA bundle again. On any error the
// previous ones stay in use.
func (t *TLS) Reload() error {
	cert, err := tls.LoadX509KeyPair(t.opts.CertFile, t.opts.KeyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	var pool *x509.CertPool
	if t.opts.ClientCAFile != "" {
		pem, err := os.ReadFile(t.opts.ClientCAFile)
		if err != nil {
			return fmt.Errorf("tls: client CA bundle: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls: client CA bundle %s holds no certificate", t.opts.ClientCAFile)
		}
	}
	t.cert.Store(&cert)
	if pool != nil {
		t.pool.Store(pool)
	}
	return nil
}

// Leaf returns the certificate in use, for logs.
func (t *TLS) Leaf() *x509.Certificate { return t.cert.Load().Leaf }

// ClientCerts reports whether client certificates are verified, and so
// authenticate devices.
func (t *TLS) ClientCerts() bool { return t.opts.ClientCAFile != "" }

func (t *TLS) verifyClient(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: t.pool.Load(), Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err
}

// Client certificate fields that can name the device.
const (
	IdentityCN           = "cn"
	IdentitySerialNumber = "serial_number"
	IdentityDNS          = "dns"
	IdentityURI          = "uri"
)

// certIdentities lists what the certificate says the device is, from the
// configured field.
func certIdentities(c *x509.Certificate, field string) []string {
	switch field {
	case IdentitySerialNumber:
		return []string{c.Subject.SerialNumber}
	case IdentityDNS:
		return c.DNSNames
	case IdentityURI:
		out := make([]string, len(c.URIs))
		for i, u := range c.URIs {
			out[i] = u.String()
		}
		return out
	}
	return []string{c.Subject.CommonName}
}

// certMatches reports whether the certificate names the device: its serial
// number (case-insensitively) or its whole device ID.
func certMatches(c *x509.Certificate, field, deviceID, serial string) bool {
	for _, id := range certIdentities(c, field) {
		id = strings.TrimSpace(id)
		if id != "" && (strings.EqualFold(id, serial) || id == deviceID) {
			return true
		}
	}
	return false
}
