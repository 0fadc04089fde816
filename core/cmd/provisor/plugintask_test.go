package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/config"
	"github.com/provisor/provisor/core/internal/sim"
	"github.com/provisor/provisor/core/internal/store"
)

// installMikroTik builds the MikroTik plugin from its module into
// dir/mikrotik with its manifest and checksum, as `make plugins` does.
func installMikroTik(t *testing.T, dir string) {
	t.Helper()
	pdir := filepath.Join(dir, "mikrotik")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, _ := filepath.Abs("../../../plugins/mikrotik")
	exe := filepath.Join(pdir, "provisor-plugin-mikrotik")
	cmd := exec.Command("go", "build", "-o", exe, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	var m map[string]any
	b, _ := os.ReadFile(filepath.Join(src, "plugin.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(exe)
	sum := sha256.Sum256(data)
	m["sha256"] = hex.EncodeToString(sum[:])
	b, _ = json.Marshal(m)
	if err := os.WriteFile(filepath.Join(pdir, "plugin.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// apiClient calls the API of a server under test with a token.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (c apiClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

type e2eTask struct {
	ID         int64           `json:"id"`
	Kind       string          `json:"kind"`
	Args       json.RawMessage `json:"args"`
	State      string          `json:"state"`
	Attempts   int             `json:"attempts"`
	CommandKey string          `json:"commandKey"`
	Result     json.RawMessage `json:"result"`
	Fault      *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"fault"`
}

func (c apiClient) waitTask(id int64, final ...string) e2eTask {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var task e2eTask
		c.do("GET", "/api/v1/tasks/"+strconv.FormatInt(id, 10), nil, &task)
		if slices.Contains(final, task.State) {
			return task
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("task %d is %s, want %v (%+v)", id, task.State, final, task)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPluginTaskEndToEnd runs `provisor serve` with the MikroTik plugin
// built from its module and a simulated RouterOS device, and queues plugin
// functions through the CLI and the API: each runs in the device's next
// session, its RPCs reach the device, and the task ends with the
// function's result or with the TransferComplete of the transfer it
// started. Bad requests are refused before anything is stored.
func TestPluginTaskEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the MikroTik plugin")
	}
	root := t.TempDir()
	installMikroTik(t, filepath.Join(root, "plugins"))
	cfg := config.Default()
	cfg.Listen, cfg.APIListen = freeAddr(t), freeAddr(t)
	cfg.DataDir = filepath.Join(root, "data")
	cfg.Database = filepath.Join(cfg.DataDir, "provisor.db")
	cfg.PluginsDir = filepath.Join(root, "plugins")
	cfg.ScriptsDir = filepath.Join(root, "scripts")
	cfg.FilesBaseURL = "http://" + cfg.Listen
	cfg.AuthPassword = "bootstrap-secret"
	cfg.ShutdownTimeout = 5 * time.Second
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	out, _, err := cli(t, "token", "create", "--role", "operator", "--name", "e2e", "--database", cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out)
	_, logs, _ := serveInProcess(t, cfg, 1)
	t.Setenv("PROVISOR_CLI_CONFIG", filepath.Join(root, "cli.yaml"))
	if err := os.WriteFile(filepath.Join(root, "cli.yaml"), []byte("url: http://"+cfg.APIListen+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PROVISOR_API_URL", "")
	t.Setenv("PROVISOR_TOKEN", token)
	api := apiClient{t: t, base: "http://" + cfg.APIListen, token: token}

	prof, err := sim.LookupProfile("mikrotik")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Config{ACSURL: "http://" + cfg.Listen + "/", Profile: prof, Devices: 1, RetryMin: 50 * time.Millisecond,
		BootDelay: 50 * time.Millisecond, CRDelay: 20 * time.Millisecond, Timeout: 10 * time.Second, LoopbackOnly: true,
		ACSUsername: "provisor-bootstrap", ACSPassword: cfg.AuthPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	d := s.Device(0)
	wait := func(n int) sim.SessionResult {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := d.WaitSessions(ctx, n)
		if err != nil {
			t.Fatalf("%v\nsessions %+v\n%s", err, d.Sessions(), logs)
		}
		return r
	}
	if r := wait(1); r.Err != nil {
		t.Fatalf("first session: %+v", r)
	}
	ident := d.Identity()
	id := store.DeviceIDFrom(ident.OUI, ident.ProductClass, ident.SerialNumber)

	t.Run("bad requests", func(t *testing.T) {
		cases := []struct {
			name      string
			body      map[string]any
			wantCode  int
			wantField string
		}{
			{"unknown plugin", map[string]any{"kind": "plugin", "plugin": "nosuch", "function": "backup"}, 400, "plugin"},
			{"unknown function", map[string]any{"kind": "plugin", "plugin": "mikrotik", "function": "nosuch"}, 400, "function"},
			{"no function", map[string]any{"kind": "plugin", "plugin": "mikrotik"}, 400, "function"},
			{"no plugin", map[string]any{"kind": "plugin", "function": "backup"}, 400, "plugin"},
			{"arguments not an array", map[string]any{"kind": "plugin", "plugin": "mikrotik", "function": "firmware", "args": map[string]any{"version": "7.16"}}, 400, "args"},
			{"plugin on another kind", map[string]any{"kind": "Reboot", "plugin": "mikrotik"}, 400, "plugin"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				c.body["device"] = id
				var p struct {
					Status        int `json:"status"`
					InvalidParams []struct {
						Name   string `json:"name"`
						Reason string `json:"reason"`
					} `json:"invalid-params"`
				}
				if code := api.do("POST", "/api/v1/tasks", c.body, &p); code != c.wantCode || p.Status != c.wantCode ||
					len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != c.wantField {
					t.Fatalf("%d %+v", code, p)
				}
			})
		}
		if _, _, err := cli(t, "task", "create", "--device", id, "--plugin", "mikrotik", "--function", "frobnicate"); err == nil ||
			!strings.Contains(err.Error(), `exports no function "frobnicate"`) || !strings.Contains(err.Error(), "backup") {
			t.Fatalf("CLI: %v", err)
		}
		var list struct{ Tasks []e2eTask }
		if api.do("GET", "/api/v1/tasks?device="+url.QueryEscape(id), nil, &list); len(list.Tasks) != 0 {
			t.Fatalf("refused requests stored tasks: %+v", list.Tasks)
		}
	})

	// create queues a plugin function with the CLI and returns its task.
	create := func(t *testing.T, args ...string) int64 {
		t.Helper()
		out, errOut, err := cli(t, append([]string{"task", "create", "-o", "json"}, args...)...)
		if err != nil {
			t.Fatalf("%v %s", err, errOut)
		}
		var res struct{ IDs []int64 }
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.IDs) != 1 {
			t.Fatalf("%v %s", err, out)
		}
		return res.IDs[0]
	}

	t.Run("functions", func(t *testing.T) {
		cases := []struct {
			name      string
			args      []string
			wantCall  string // what the device sees
			wantState string
			check     func(t *testing.T, task e2eTask)
		}{
			{"result without a transfer", []string{"--function", "onboardScript", "--args", `[{"acsURL": "https://acs.example.net:7548/", "username": "u", "password": "p"}]`},
				"", "done", func(t *testing.T, task e2eTask) {
					var script string
					if err := json.Unmarshal(task.Result, &script); err != nil || !strings.Contains(script, "/tr069-client") {
						t.Fatalf("result %s %v", task.Result, err)
					}
				}},
			{"script through a Download", []string{"--function", "runScript", "--args", `["/system identity set name=from-task"]`},
				"Download", "done", func(t *testing.T, task e2eTask) {
					var tc struct{ CommandKey string }
					if err := json.Unmarshal(task.Result, &tc); err != nil || tc.CommandKey != task.CommandKey {
						t.Fatalf("result %s, want the TransferComplete for %s", task.Result, task.CommandKey)
					}
					if v, _ := d.Get("Device.DeviceInfo.X_MIKROTIK_SystemIdentity"); v.Text != "from-task" {
						t.Fatalf("identity %q", v.Text)
					}
				}},
			{"backup through an Upload", []string{"--function", "backup"}, "Upload", "done", func(t *testing.T, task e2eTask) {
				var files struct {
					Files []struct {
						Name string `json:"name"`
						Type string `json:"type"`
					} `json:"files"`
				}
				api.do("GET", "/api/v1/files?device="+url.QueryEscape(id), nil, &files)
				if !slices.ContainsFunc(files.Files, func(f struct {
					Name string `json:"name"`
					Type string `json:"type"`
				}) bool {
					return f.Type == "1 Vendor Configuration File"
				}) {
					t.Fatalf("no export stored: %+v", files.Files)
				}
			}},
			{"the function refuses its arguments", []string{"--function", "runScript", "--args", `[""]`}, "", "fault", func(t *testing.T, task e2eTask) {
				if task.Fault == nil || !strings.Contains(task.Fault.Message, "the script is empty") {
					t.Fatalf("fault %+v", task.Fault)
				}
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				since := time.Now()
				tid := create(t, append([]string{"--device", id, "--plugin", "mikrotik"}, c.args...)...)
				d.Kick()
				task := api.waitTask(tid, c.wantState)
				// The task may run in the session it was kicked for, or in
				// one the device had already begun (the TransferComplete
				// of the case before): look at every session that ended
				// since the task was queued.
				if c.wantCall != "" {
					deadline := time.Now().Add(10 * time.Second)
					for !sawCall(d.Sessions(), since, c.wantCall) {
						if time.Now().After(deadline) {
							t.Fatalf("the device saw %+v, want a %s", d.Sessions(), c.wantCall)
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
				if task.Kind != "plugin" || !strings.HasPrefix(task.CommandKey, "x-mikrotik-") || task.Attempts != 1 {
					t.Fatalf("task %+v", task)
				}
				c.check(t, task)
			})
		}
	})

	// Firmware for every device a filter matches. The MikroTik profile
	// says a firmware Download ends the session: the task queued behind
	// it waits for the next session without spending an attempt.
	t.Run("firmware by filter ends the session", func(t *testing.T) {
		npkDir := t.TempDir()
		for _, name := range []string{"routeros-7.14.2-mipsbe.npk", "tr069-client-7.14.2-mipsbe.npk"} {
			p := filepath.Join(npkDir, name)
			if err := os.WriteFile(p, []byte("npk "+name), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, e, err := cli(t, "file", "upload", p, "--type", "1 Firmware Upgrade Image", "--version", "7.14.2"); err != nil {
				t.Fatal(err, e)
			}
		}
		since := time.Now()
		fw := create(t, "--where", "manufacturer=MikroTik", "--plugin", "mikrotik", "--function", "firmware", "--args", `["7.14.2"]`)
		after := create(t, "--device", id, "--kind", "GetParameterValues", "--args", `{"ParameterNames": ["Device.DeviceInfo.UpTime"]}`)
		d.Kick()
		task := api.waitTask(fw, "done", "fault")
		if task.State != "done" {
			t.Fatalf("firmware task %+v", task)
		}
		next := api.waitTask(after, "done", "fault")
		if next.State != "done" || next.Attempts != 1 {
			t.Fatalf("the task behind the firmware: %+v", next)
		}
		if v, _ := d.Get("Device.DeviceInfo.SoftwareVersion"); v.Text != "7.14.2" {
			t.Fatalf("SoftwareVersion %q", v.Text)
		}
		hist := slices.DeleteFunc(d.Sessions(), func(r sim.SessionResult) bool { return r.Start.Before(since) })
		var sawDownload bool
		for _, r := range hist {
			if i := slices.Index(r.Calls, "Download"); i >= 0 {
				sawDownload = true
				if i != len(r.Calls)-1 || r.Err != nil {
					t.Fatalf("the session went on after the firmware Download: %+v", r)
				}
			}
		}
		if !sawDownload {
			t.Fatalf("no Download: %+v", hist)
		}
		var sessions struct {
			Sessions []struct {
				Outcome string `json:"outcome"`
				RPCs    int    `json:"rpcs"`
			} `json:"sessions"`
		}
		api.do("GET", "/api/v1/devices/"+url.PathEscape(id)+"/sessions", nil, &sessions)
		for _, rec := range sessions.Sessions {
			if rec.Outcome != "ok" {
				t.Fatalf("a session did not end well: %+v", sessions.Sessions)
			}
		}
	})
}

// sawCall reports whether a session that ended after since carried call.
func sawCall(sessions []sim.SessionResult, since time.Time, call string) bool {
	return slices.ContainsFunc(sessions, func(r sim.SessionResult) bool {
		return !r.End.Before(since) && slices.Contains(r.Calls, call)
	})
}
