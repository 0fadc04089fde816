package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `
listen: "127.0.0.1:8000"
data_dir: /var/lib/provisor
log:
  level: debug
session:
  exchange_timeout: 45s
  gpv_batch_size: 16
limits:
  max_body_bytes: 1048576
profiles:
  - name: tplink
    manufacturer: TP-Link
    numeric_booleans: true
    exchange_timeout: 1m
  - name: routeros
    manufacturer: MikroTik
    max_cwmp_version: 1.0
    transfer_ends_session: ["1 Firmware Upgrade Image"]
`)
	cases := []struct {
		name    string
		file    string
		env     []string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{"defaults", "", nil, func(t *testing.T, c Config) {
			if c.Listen != ":7547" || c.DataDir != "./data" || c.Database != filepath.Join("data", "provisor.db") ||
				c.ExchangeTimeout != 30*time.Second || c.GPVBatchSize != 32 || c.MaxBodyBytes != 4<<20 {
				t.Fatalf("%+v", c)
			}
		}, ""},
		{"file", good, nil, func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:8000" || c.LogLevel != "debug" || c.ExchangeTimeout != 45*time.Second ||
				c.GPVBatchSize != 16 || c.MaxBodyBytes != 1<<20 || c.Database != "/var/lib/provisor/provisor.db" {
				t.Fatalf("%+v", c)
			}
			if p := c.Profiles[len(c.Profiles)-1]; p.MaxCWMPVersion != "1" || len(p.TransferEndsSession) != 1 || p.CheckVersion() != nil {
				t.Fatalf("unquoted version or transfer list: %+v", p)
			}
			if len(c.Profiles) != 2 || !c.Profiles[0].NumericBooleans || c.Profiles[0].ExchangeTimeout != time.Minute || c.Profiles[0].Manufacturer != "TP-Link" {
				t.Fatalf("%+v", c.Profiles)
			}
		}, ""},
		{"environment overrides the file", good, []string{"PROVISOR_LISTEN=:9000", "PROVISOR_SESSION_GPV_BATCH_SIZE=8", "OTHER=1"}, func(t *testing.T, c Config) {
			if c.Listen != ":9000" || c.GPVBatchSize != 8 || c.LogLevel != "debug" {
				t.Fatalf("%+v", c)
			}
		}, ""},
		{"unknown key", write("typo.yaml", "sesion:\n  exchange_timeout: 1s\n"), nil, nil, `unknown key "sesion.exchange_timeout"`},
		{"bad duration", "", []string{"PROVISOR_SESSION_EXCHANGE_TIMEOUT=soon"}, nil, "not a duration"},
		{"bad number", "", []string{"PROVISOR_LIMITS_MAX_DEPTH=-1"}, nil, "non-negative"},
		{"bad level", "", []string{"PROVISOR_LOG_LEVEL=loud"}, nil, "log.level"},
		{"missing file", filepath.Join(dir, "absent.yaml"), nil, nil, "no such file"},
		{"bad yaml", write("bad.yaml", "listen: [\n"), nil, nil, "bad.yaml"},
		{"security defaults", "", nil, func(t *testing.T, c Config) {
			if c.AuthMode != "any" || !c.AuthShared || !c.AuthRotateOnBootstrap || c.AuthRebootstrap != "refuse" || c.AuthAllowBasicWithoutTLS ||
				c.AuthUsername != "provisor-bootstrap" || c.AuthPassword != "" || !c.TLSSessionTickets || c.MaxSessions != 1000 || c.IPRate != 20 {
				t.Fatalf("%+v", c)
			}
		}, ""},
		{"security settings", write("sec.yaml", `
listen: ""
allow_from: [10.0.0.0/8, "2001:db8::/32"]
tls:
  listen: ":7548"
  cert: /etc/provisor/acs.pem
  key: /etc/provisor/acs.key
  session_tickets: false
auth:
  mode: digest
  allow_basic_without_tls: yes
profiles:
  - name: lab
    oui: 00D0B7
    auth: allow-list
    allow_from: [192.0.2.0/24]
`), []string{"PROVISOR_AUTH_PASSWORD=s3cret", "PROVISOR_LIMITS_IP_RATE=2.5"}, func(t *testing.T, c Config) {
			if c.AllowFrom != "10.0.0.0/8,2001:db8::/32" || c.TLSListen != ":7548" || c.TLSSessionTickets || c.AuthMode != "digest" ||
				!c.AuthAllowBasicWithoutTLS || c.AuthPassword != "s3cret" || c.IPRate != 2.5 || c.Profiles[0].Auth != "allow-list" {
				t.Fatalf("%+v", c)
			}
		}, ""},
		{"bad auth mode", "", []string{"PROVISOR_AUTH_MODE=ntlm"}, nil, "auth.mode"},
		{"re-bootstrap accepted", write("reboot.yaml", "auth:\n  rebootstrap: accept\n"), nil, func(t *testing.T, c Config) {
			if c.AuthRebootstrap != "accept" {
				t.Fatalf("%+v", c)
			}
		}, ""},
		{"bad re-bootstrap policy", "", []string{"PROVISOR_AUTH_REBOOTSTRAP=allow"}, nil, "auth.rebootstrap"},
		{"re-bootstrap accepted without rotation", "", []string{"PROVISOR_AUTH_REBOOTSTRAP=accept", "PROVISOR_AUTH_ROTATE_ON_BOOTSTRAP=false"}, nil, "auth.rotate_on_bootstrap"},
		{"bad boolean", "", []string{"PROVISOR_AUTH_SHARED=maybe"}, nil, "not a boolean"},
		{"bad CIDR", "", []string{"PROVISOR_ALLOW_FROM=10.0.0.0/40"}, nil, "allow_from"},
		{"TLS without a certificate", "", []string{"PROVISOR_TLS_LISTEN=:7548"}, nil, "tls.cert"},
		{"no endpoint", "", []string{"PROVISOR_LISTEN="}, nil, "no CPE endpoint"},
		{"bad max CWMP version", write("ver.yaml", "profiles:\n  - name: x\n    max_cwmp_version: latest\n"), nil, nil, "max_cwmp_version"},
		{"allow-list profile without addresses", write("prof.yaml", "profiles:\n  - name: x\n    auth: allow-list\n"), nil, nil, "needs allow_from"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(c.file, c.env)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}

// The documentation lists every key with its variable and default, and
// --help prints them all.
func TestEveryKeyDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	help := Help()
	for _, k := range Keys {
		if !strings.Contains(string(doc), "| `"+k.Name+"` | `"+k.Env()+"` |") {
			t.Errorf("docs/configuration.md lacks a row for %s", k.Name)
		}
		if !strings.Contains(help, k.Env()) {
			t.Errorf("help lacks %s", k.Env())
		}
	}
}

func TestDebugListen(t *testing.T) {
	cases := []struct {
		env     []string
		wantErr string
	}{
		{env: nil},
		{env: []string{"PROVISOR_DEBUG_LISTEN=127.0.0.1:6060"}},
		{env: []string{"PROVISOR_DEBUG_LISTEN=[::1]:6060"}},
		{env: []string{"PROVISOR_DEBUG_LISTEN=localhost:0"}},
		{env: []string{"PROVISOR_DEBUG_LISTEN=127.0.0.2:6060"}},
		{env: []string{"PROVISOR_DEBUG_LISTEN=:6060"}, wantErr: "not a loopback address"},
		{env: []string{"PROVISOR_DEBUG_LISTEN=0.0.0.0:6060"}, wantErr: "not a loopback address"},
		{env: []string{"PROVISOR_DEBUG_LISTEN=10.1.2.3:6060"}, wantErr: "not a loopback address"},
		{env: []string{"PROVISOR_DEBUG_LISTEN=debug.example.net:6060"}, wantErr: "not a loopback address"},
		{env: []string{"PROVISOR_DEBUG_LISTEN=127.0.0.1"}, wantErr: "missing port"},
		{env: []string{"PROVISOR_DEBUG_LISTEN=:6060", "PROVISOR_DEBUG_ALLOW_REMOTE=true"}},
		{env: []string{"PROVISOR_DEBUG_LISTEN=10.1.2.3:6060", "PROVISOR_DEBUG_ALLOW_REMOTE=yes"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.env, " "), func(t *testing.T) {
			c, err := Load("", tc.env)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Load: err %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr == "" && len(tc.env) > 0 && c.DebugListen == "":
				t.Fatal("debug.listen not set")
			}
		})
	}
}
