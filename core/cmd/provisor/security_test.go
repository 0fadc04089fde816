package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/config"
	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/soap"
)

// syncBuffer is a log destination that tests can read while run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveInProcess runs `provisor serve`'s run with cfg until the test ends
// and returns the listeners' addresses.
func serveInProcess(t *testing.T, cfg config.Config, n int) ([]string, *syncBuffer, func()) {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, n)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), ready) }()
	var addrs []string
	for range n {
		select {
		case a := <-ready:
			addrs = append(addrs, a.String())
		case err := <-done:
			cancel()
			t.Fatalf("run: %v\n%s", err, logs)
		case <-time.After(20 * time.Second):
			t.Fatal("run did not start")
		}
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	return addrs, logs, stop
}

func securityConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.APIListen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Database = filepath.Join(cfg.DataDir, "provisor.db")
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

var periodicInform = soap.Encode(nil, &cwmp.Envelope{Namespace: cwmp.NS10, Body: &cwmp.Inform{
	DeviceID: cwmp.DeviceID{Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "SecGW", SerialNumber: "SN-SEC"},
	Events:   []cwmp.EventStruct{{EventCode: cwmp.EventPeriodic}}, MaxEnvelopes: 1,
}}, soap.Options{})

// A fresh server authenticates from its first start, with a generated
// bootstrap credential shown once in the log and kept in a private file.
func TestFreshStartAuthenticates(t *testing.T) {
	cfg := securityConfig(t)
	addrs, logs, stop := serveInProcess(t, cfg, 1)
	url := "http://" + addrs[0] + "/"
	file := filepath.Join(cfg.DataDir, server.BootstrapFile)
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("bootstrap file: %v %v", st, err)
	}
	pwBytes, _ := os.ReadFile(file)
	pw := strings.TrimSpace(string(pwBytes))
	if len(pw) < 20 || strings.Count(logs.String(), pw) != 1 || !strings.Contains(logs.String(), "username=provisor-bootstrap") {
		t.Fatalf("the generated password is not logged exactly once:\n%s", logs)
	}
	resp, err := http.Post(url, "text/xml", bytes.NewReader(periodicInform))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Digest ") {
		t.Fatalf("unauthenticated Inform: %d %v", resp.StatusCode, resp.Header)
	}
	session := func(url string) {
		t.Helper()
		client := cpeClient(t, cfg.DataDir)
		if st, _ := post(t, client, url, &cwmp.Envelope{Namespace: cwmp.NS10, Body: mustDecode(t, periodicInform)}); st != http.StatusOK {
			t.Fatalf("Inform with the bootstrap credential: %d", st)
		}
		// New device: discovery asks for its names; answer with a fault
		// to end it quickly.
		for st, req := post(t, client, url, nil); st == http.StatusOK; st, req = post(t, client, url, &cwmp.Envelope{Namespace: cwmp.NS10, Header: req.Header, Body: cwmp.NewFault(cwmp.FaultInvalidParameterName, "")}) {
		}
	}
	session(url)
	stop()

	// Second start: the same credential, not shown again.
	addrs, logs, _ = serveInProcess(t, cfg, 1)
	if strings.Contains(logs.String(), pw) {
		t.Fatalf("password logged again:\n%s", logs)
	}
	session("http://" + addrs[0] + "/")
}

func mustDecode(t *testing.T, b []byte) cwmp.Body {
	env, err := soap.Decode(b, soap.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return env.Body
}

// HTTPS only, Basic over TLS, and SIGHUP swapping the certificate.
func TestServeTLSAndReloadOnSIGHUP(t *testing.T) {
	cfg := securityConfig(t)
	cfg.Listen = ""
	cfg.TLSListen = "127.0.0.1:0"
	cfg.AuthPassword = "a-configured-password"
	cfg.TLSCert, cfg.TLSKey = filepath.Join(cfg.DataDir, "acs.pem"), filepath.Join(cfg.DataDir, "acs.key")
	pool := x509.NewCertPool()
	first := writeSelfSigned(t, cfg.TLSCert, cfg.TLSKey, pool)
	addrs, logs, _ := serveInProcess(t, cfg, 1)
	if _, err := os.Stat(filepath.Join(cfg.DataDir, server.BootstrapFile)); err == nil {
		t.Fatal("a configured password must not generate a bootstrap file")
	}
	served := func() *big.Int {
		c, err := tls.Dial("tcp", addrs[0], &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber
	}
	if served().Cmp(first) != 0 {
		t.Fatal("not serving the configured certificate")
	}
	req, _ := http.NewRequest(http.MethodPost, "https://"+addrs[0]+"/", bytes.NewReader(periodicInform))
	req.SetBasicAuth("provisor-bootstrap", "a-configured-password")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Basic over TLS: %d", resp.StatusCode)
	}

	second := writeSelfSigned(t, cfg.TLSCert, cfg.TLSKey, pool)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); served().Cmp(second) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("certificate not reloaded on SIGHUP:\n%s", logs)
		}
	}
}

// writeSelfSigned writes a fresh self-signed certificate for 127.0.0.1,
// adds it to pool and returns its serial number.
func writeSelfSigned(t *testing.T, certFile, keyFile string, pool *x509.CertPool) *big.Int {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "provisor test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool.AddCert(c)
	return serial
}
