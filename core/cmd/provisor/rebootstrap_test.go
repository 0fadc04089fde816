package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/sim"
	"github.com/provisor/provisor/core/internal/store"
)

// A simulated device is rotated to its own credential at its first
// bootstrap, then factory-reset through a task. It comes back with the
// shared credential and 0 BOOTSTRAP: under auth.rebootstrap=refuse it is
// refused until an operator deletes its credential with the CLI, under
// accept it is admitted at once; either way it ends up with a new
// credential of its own. The whole `provisor serve` runs on loopback with
// its SQLite file, the API and real Digest.
func TestFactoryResetDevice(t *testing.T) {
	cases := []struct {
		policy string
		// refusedFirst: the device is refused until its credential is
		// deleted through the CLI.
		refusedFirst bool
	}{
		{"refuse", true},
		{"accept", false},
	}
	for _, c := range cases {
		t.Run(c.policy, func(t *testing.T) {
			cfg := securityConfig(t)
			cfg.AuthPassword = "shared-bootstrap-secret"
			cfg.AuthRebootstrap = c.policy
			cfg.ExchangeTimeout = 5 * time.Second
			cfg.ScriptsDir = t.TempDir()
			addrs, logs, _ := serveInProcess(t, cfg, 1)
			m := regexp.MustCompile(`api=(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String())
			if m == nil {
				t.Fatalf("no API address in the log:\n%s", logs)
			}
			api := &apiClient{t: t, base: "http://" + m[1], token: newToken(t, cfg.Database, "operator")}
			cliCfg := filepath.Join(t.TempDir(), "cli.yaml")
			if err := os.WriteFile(cliCfg, []byte("url: "+api.base+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PROVISOR_CLI_CONFIG", cliCfg)
			t.Setenv("PROVISOR_API_URL", "")
			t.Setenv("PROVISOR_TOKEN", api.token)

			p, err := sim.LookupProfile("tr181")
			if err != nil {
				t.Fatal(err)
			}
			s, err := sim.New(sim.Config{ACSURL: "http://" + addrs[0] + "/", Profile: p, Devices: 1,
				ACSUsername: cfg.AuthUsername, ACSPassword: cfg.AuthPassword, RetryMin: 100 * time.Millisecond,
				BootDelay: 50 * time.Millisecond, Timeout: 10 * time.Second, LoopbackOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Stop)
			dev := s.Device(0)
			idn := dev.Identity()
			id := store.DeviceIDFrom(idn.OUI, idn.ProductClass, idn.SerialNumber)
			// The device's ACS user name; its password reads empty.
			username := func() string { v, _ := dev.Get("Device.ManagementServer.Username"); return v.Text }

			// First contact: rotated to a credential of its own.
			waitUntil(t, "first rotation", 20*time.Second, func() bool {
				cr := api.credential(id)
				return cr.Set && !cr.Pending && username() == id && dev.Completed() >= 1
			})
			first := api.credential(id).Updated

			// Factory reset through a task; the device takes it at once.
			api.post("/api/v1/tasks", `{"device": "`+id+`", "kind": "FactoryReset"}`)
			dev.Kick(cwmp.EventPeriodic)

			if c.refusedFirst {
				waitUntil(t, "refusal", 20*time.Second, func() bool {
					return strings.Contains(api.metrics(), `provisor_cpe_rebootstrap_total{decision="refused"} 1`)
				})
				if !strings.Contains(logs.String(), "device="+id) || !strings.Contains(logs.String(), "refused by auth.rebootstrap=refuse") {
					t.Fatalf("no warning naming the device and the cause:\n%s", logs)
				}
				if cr := api.credential(id); !cr.Set || !cr.Updated.Equal(first) || username() != cfg.AuthUsername {
					t.Fatalf("after the refusal: credential %+v, device user name %q", cr, username())
				}
				// The operator acknowledges the reset.
				out, _, err := cli(t, "device", "credential", "delete", id)
				if err != nil || !strings.Contains(out, "credential deleted") {
					t.Fatalf("credential delete: %q %v", out, err)
				}
				if out, _, err := cli(t, "device", "credential", "show", id); err != nil || !strings.Contains(out, "none") {
					t.Fatalf("credential show after delete: %q %v", out, err)
				}
			}

			// Admitted with the shared credential and rotated again.
			waitUntil(t, "second rotation", 30*time.Second, func() bool {
				cr := api.credential(id)
				return cr.Set && !cr.Pending && cr.Updated.After(first) && username() == id
			})
			dev.Kick(cwmp.EventPeriodic) // and the new credential works
			last := waitSessionOK(t, dev)
			if last.Err != nil {
				t.Fatalf("session with the new credential: %v", last.Err)
			}
			decision := "accepted"
			if c.refusedFirst {
				decision = "refused"
			}
			if mt := api.metrics(); !strings.Contains(mt, `provisor_cpe_rebootstrap_total{decision="`+decision+`"} 1`) {
				t.Fatalf("metrics:\n%s", mt)
			}
			if out, _, err := cli(t, "device", "credential", "show", id); err != nil || !strings.Contains(out, "own") {
				t.Fatalf("credential show: %q %v", out, err)
			}
		})
	}
}

// newToken creates an API token in the running server's database.
func newToken(t *testing.T, db, role string) string {
	t.Helper()
	out, _, err := cli(t, "token", "create", "--role", role, "--database", db)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// raw sends a JSON body as it is and fails the test on any status of 300
// or more but 404.
func (a apiClient) raw(method, path, body string) []byte {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		a.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

func (a apiClient) post(path, body string) { a.raw("POST", path, body) }

func (a apiClient) metrics() string { return string(a.raw("GET", "/metrics", "")) }

type apiCredential struct {
	Set, Pending bool
	Updated      time.Time
}

func (a apiClient) credential(id string) apiCredential {
	var d struct{ Credential apiCredential }
	_ = json.Unmarshal(a.raw("GET", devPath(id)+"?parameters=false", ""), &d)
	return d.Credential
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

// waitSessionOK waits for the device's next session to end.
func waitSessionOK(t *testing.T, d *sim.Device) sim.SessionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := d.WaitSessions(ctx, d.SessionCount()+1)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
