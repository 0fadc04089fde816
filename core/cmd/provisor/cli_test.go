package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// cliEnv is a database, the API on loopback, and the environment the CLI
// reads.
type cliEnv struct {
	t   *testing.T
	db  *sqlite.DB
	api *apiService
	dir string
}

func cli(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runCLI(args, &out, &errb)
	return out.String(), errb.String(), err
}

func newCLIEnv(t *testing.T) *cliEnv {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "provisor.db")
	// The first token is made before anything else exists: this creates
	// the database.
	out, _, err := cli(t, "token", "create", "--role", "admin", "--name", "first", "--database", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	first := strings.TrimSpace(out)
	if !strings.HasPrefix(first, "pvs_") {
		t.Fatalf("token create printed %q", out)
	}
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	api, err := openAPI(context.Background(), apiSettings{Listen: "127.0.0.1:0", FilesBaseURL: "http://127.0.0.1:7547"}, dir, db, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := api.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := db.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	// The API URL comes from the CLI configuration file, the token from
	// the environment.
	cfg := filepath.Join(dir, "cli.yaml")
	if err := os.WriteFile(cfg, []byte("url: http://"+api.Addr().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PROVISOR_CLI_CONFIG", cfg)
	t.Setenv("PROVISOR_API_URL", "")
	t.Setenv("PROVISOR_TOKEN", first)
	now := time.Now()
	for _, serial := range []string{"SN1", "SN2"} {
		err := db.WriteSession(context.Background(), store.SessionWrite{
			Device: store.Device{ID: store.DeviceIDFrom("00D0B7", "Home GW", serial), OUI: "00D0B7", ProductClass: "Home GW",
				SerialNumber: serial, LastInform: now, IP: "192.0.2.1"},
			Params: []store.Param{
				store.ValueParam("Device.DeviceInfo.SoftwareVersion", "7.14", "string", now),
				store.ValueParam("Device.DeviceInfo.UpTime", "100", "unsignedInt", now),
				store.ValueParam("Device.ManagementServer.PeriodicInformInterval", "300", "unsignedInt", now),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return &cliEnv{t: t, db: db, api: api, dir: dir}
}

func TestCLI(t *testing.T) {
	e := newCLIEnv(t)
	id1 := store.DeviceIDFrom("00D0B7", "Home GW", "SN1") // has a %20: the CLI must escape it in paths

	// A token created while the server holds the database works at once.
	out, _, err := cli(t, "token", "create", "--role", "viewer", "--database", filepath.Join(e.dir, "provisor.db"), "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var viewer struct {
		ID    int64
		Token string
	}
	if err := json.Unmarshal([]byte(out), &viewer); err != nil || viewer.Token == "" {
		t.Fatalf("%q %v", out, err)
	}

	steps := []struct {
		args []string
		want []string // substrings of the output
		err  string   // substring of the error, when one is expected
	}{
		{args: []string{"device", "list"}, want: []string{"ID", id1, "7.14", "true"}},
		{args: []string{"device", "list", "--where", "Device.DeviceInfo.UpTime>50", "--tag", "none"}, want: []string{"ID"}},
		{args: []string{"device", "list", "--where", "Device..X=1"}, err: "where[0]"},
		{args: []string{"device", "get", id1, "--path", "Device.DeviceInfo."}, want: []string{"Device.DeviceInfo.UpTime", "unsignedInt", "100"}},
		{args: []string{"device", "get", "nope-1"}, err: "404"},
		{args: []string{"device", "tag", id1, "lab", "north"}, want: []string{"lab,north"}},
		{args: []string{"device", "untag", id1, "north"}},
		{args: []string{"device", "set", id1, "Device.ManagementServer.PeriodicInformInterval=600", "Device.X.Y:boolean=true"}, want: []string{"task 1 queued (next-inform)"}},
		{args: []string{"device", "set", id1, "Device.ManagementServer.PeriodicInformInterval=soon"}, err: "args.ParameterList[0].Value"},
		{args: []string{"device", "reboot", id1}, want: []string{"task 2 queued"}},
		{args: []string{"device", "refresh", id1, "Device.WiFi."}, want: []string{"task 3 queued"}},
		{args: []string{"task", "create", "--where", "productClass=Home GW", "--kind", "Reboot", "--dry-run"}, want: []string{"2 devices match"}},
		{args: []string{"task", "create", "--tag", "lab", "--kind", "GetParameterValues", "--args", `{"ParameterNames": ["Device.DeviceInfo."]}`, "--expires", "1h"}, want: []string{"task 4 queued"}},
		{args: []string{"task", "create", "--kind", "Reboot"}, err: "device"},
		{args: []string{"task", "list", "--device", id1}, want: []string{"ID", "SetParameterValues", "Reboot", "refresh", "queued"}},
		{args: []string{"task", "get", "2"}, want: []string{"Reboot", "queued"}},
		{args: []string{"task", "cancel", "2"}, want: []string{"cancelled"}},
		{args: []string{"task", "cancel", "2"}, err: "409"},
		{args: []string{"token", "list"}, want: []string{"first", "admin", "viewer"}},
		{args: []string{"device", "delete", store.DeviceIDFrom("00D0B7", "Home GW", "SN2")}, err: "--yes"},
		{args: []string{"device", "delete", store.DeviceIDFrom("00D0B7", "Home GW", "SN2"), "--yes"}},
		{args: []string{"device", "frobnicate"}, err: "unknown command"},
		{args: []string{"device", "credential", "show", id1}, want: []string{id1, "none: the shared bootstrap credential is accepted"}},
		{args: []string{"device", "credential", "delete", id1}, err: "404"},
		{args: []string{"device", "credential", "forget", id1}, err: "show|delete"},
	}
	for _, s := range steps {
		out, stderr, err := cli(t, s.args...)
		if s.err != "" {
			if err == nil || !strings.Contains(err.Error(), s.err) {
				t.Errorf("%v: err %v, want %q (out %q)", s.args, err, s.err, out)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v %s", s.args, err, stderr)
			continue
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", s.args, w, out)
			}
		}
	}

	// JSON output is the API's.
	out, _, err = cli(t, "device", "list", "-o", "json", "--params", "Device.DeviceInfo.UpTime")
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Devices []struct {
			ID         string
			Parameters []struct{ Name, Value string }
		}
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Devices) != 1 || l.Devices[0].Parameters[0].Value != "100" {
		t.Fatalf("%s %v", out, err)
	}

	// Files: upload, list, download, delete.
	src := filepath.Join(e.dir, "fw.npk")
	data := bytes.Repeat([]byte("firmware"), 1000)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = cli(t, "file", "upload", src, "--type", "1 Firmware Upgrade Image", "--version", "7.15", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ ID, Name string }
	_ = json.Unmarshal([]byte(out), &f)
	if f.Name != "fw.npk" {
		t.Fatalf("%s", out)
	}
	if out, _, err = cli(t, "file", "list"); err != nil || !strings.Contains(out, f.ID) || !strings.Contains(out, "7.15") {
		t.Fatalf("%s %v", out, err)
	}
	dst := filepath.Join(e.dir, "copy.npk")
	if _, _, err = cli(t, "file", "download", f.ID, "-O", dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ")
	}
	if out, _, err = cli(t, "file", "download", f.ID, "-O", "-"); err != nil || out != string(data) {
		t.Fatalf("to stdout: %d bytes, %v", len(out), err)
	}
	if _, _, err = cli(t, "file", "delete", f.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err = cli(t, "file", "upload", src); err == nil || !strings.Contains(err.Error(), "type") {
		t.Fatalf("upload without type: %v", err)
	}

	// A viewer may read but not change.
	t.Setenv("PROVISOR_TOKEN", viewer.Token)
	if _, _, err := cli(t, "device", "list"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, "device", "reboot", id1); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("viewer reboot: %v", err)
	}
	// Revoking the viewer (as the admin) locks it out.
	t.Setenv("PROVISOR_TOKEN", strings.TrimSpace(firstToken(t, e)))
	if _, _, err := cli(t, "token", "revoke", itoa(viewer.ID)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PROVISOR_TOKEN", viewer.Token)
	time.Sleep(10 * time.Millisecond)
	if _, _, err := cli(t, "device", "list"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("revoked token: %v", err)
	}
	t.Setenv("PROVISOR_TOKEN", "")
	if _, _, err := cli(t, "device", "list"); err == nil || !strings.Contains(err.Error(), "PROVISOR_TOKEN") {
		t.Fatalf("no token: %v", err)
	}
}

// firstToken makes a fresh admin token (the first one was only printed).
func firstToken(t *testing.T, e *cliEnv) string {
	out, _, err := cli(t, "token", "create", "--role", "admin", "--database", filepath.Join(e.dir, "provisor.db"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestTokenCreateRefusesBadInput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	for _, args := range [][]string{
		{"token", "create", "--database", db},
		{"token", "create", "--role", "root", "--database", db},
		{"token", "create", "--role", "admin", "--expires", "soon", "--database", db},
	} {
		if _, _, err := cli(t, args...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// The API service serves health checks without a token, mounts device
// file URLs on the CPE handler and shuts down cleanly.
func TestAPIService(t *testing.T) {
	e := newCLIEnv(t)
	resp, err := http.Get("http://" + e.api.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "ready") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	h := e.api.CPEHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for path, want := range map[string]int{"/cwmp": http.StatusTeapot, "/files/d/x/1/y/z": http.StatusForbidden} {
		rec := &statusRecorder{header: http.Header{}}
		req, _ := http.NewRequest("GET", path, nil)
		h.ServeHTTP(rec, req)
		if rec.code != want {
			t.Errorf("%s: %d, want %d", path, rec.code, want)
		}
	}
	if _, err := openAPI(context.Background(), apiSettings{FilesBaseURL: "ftp://x"}, e.dir, e.db, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("bad base URL accepted")
	}
	bad := &apiService{settings: apiSettings{Listen: "127.0.0.1:0", TLSCert: "x"}}
	if err := bad.Listen(); err == nil {
		t.Error("half a TLS configuration accepted")
	}
}

type statusRecorder struct {
	header http.Header
	code   int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(c int)           { r.code = c }
