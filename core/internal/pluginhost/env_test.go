package pluginhost_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/pluginhost"
	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/sim"
	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// Binaries built once for the whole test run.
var bins struct {
	dir                              string
	testplugin, v2plugin, bareplugin string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginhost-test-")
	if err != nil {
		panic(err)
	}
	bins.dir = dir
	bins.testplugin = filepath.Join(dir, "testplugin")
	bins.v2plugin = filepath.Join(dir, "v2plugin")
	bins.bareplugin = filepath.Join(dir, "bareplugin")
	for out, pkg := range map[string]string{bins.testplugin: "./testdata/testplugin", bins.v2plugin: "./testdata/v2plugin",
		bins.bareplugin: "./testdata/bareplugin"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goBuild builds a Go main package of another module into dir.
func goBuild(t testing.TB, moduleDir, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", moduleDir, err, b)
	}
}

// install puts a plugin into dir/<id>/ with a manifest; edit changes the
// manifest before it is written.
func install(t testing.TB, dir, id, binary string, edit func(m map[string]any)) string {
	t.Helper()
	pdir := filepath.Join(dir, id)
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(pdir, "plugin-"+id)
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	m := map[string]any{"id": id, "version": "1.0.0", "protocol": 1, "executable": "plugin-" + id, "sha256": hex.EncodeToString(sum[:])}
	if edit != nil {
		edit(m)
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(pdir, pluginhost.ManifestName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return pdir
}

type testWriter struct {
	t  testing.TB
	mu sync.Mutex
	on bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.on {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t, on: testing.Verbose()}
	t.Cleanup(func() { w.mu.Lock(); w.on = false; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// env is a real ACS on loopback with the plugin host in its hook chain,
// wired as `provisor serve` wires it: the real file store, mounted on the
// CPE listener with filestore.Mount and a base URL naming that listener,
// reaches plugins through pluginhost.FromFileStore.
type env struct {
	url   string // the CWMP endpoint
	base  string // files.base_url: the CPE listener
	store store.Store
	mgr   *session.Manager
	host  *pluginhost.Host
	files *filestore.Store
}

func startEnv(t testing.TB, opts pluginhost.Options, cfg session.Config, scripts ...hook.Handler) *env {
	t.Helper()
	log := testLogger(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "provisor.db"), sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st}
	// The listener exists before the file store, so that the store's base
	// URL is the address devices reach: the loopback CPE listener.
	srv := httptest.NewUnstartedServer(nil)
	e.base = "http://" + srv.Listener.Addr().String()
	e.files, err = filestore.Open(ctx, st, filestore.Options{Dir: t.TempDir(), BaseURL: e.base, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = log
	opts.Store = st
	if opts.Files == nil {
		opts.Files = pluginhost.FromFileStore(e.files)
	}
	h, err := pluginhost.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.host = h
	e.files.SetInspector(h.UploadInspector(st))
	hooks := &hook.Registry{}
	hooks.Register(hook.StageBuiltin, session.Discovery{})
	h.Register(hooks)
	for _, x := range scripts {
		hooks.Register(hook.StageScripts, x)
	}
	hooks.Register(hook.StageTasks, &session.Tasks{Store: st, Plugins: h})
	cfg.Profiles = append(cfg.Profiles, h.SessionProfiles()...)
	e.mgr = session.NewManager(cfg, st, hooks, log)
	srvh := &server.Handler{Sessions: e.mgr, Log: log}
	srv.Config.Handler = filestore.Mount(e.files, srvh)
	srv.Config.ConnContext = srvh.ConnContext
	srv.Config.ConnState = srvh.ConnState
	srv.Start()
	e.url = srv.URL + "/cwmp"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.mgr.Close(ctx)
		srv.Close()
		_ = h.Close(ctx)
		_ = st.Close(ctx)
	})
	return e
}

// content reads a stored file's bytes through the file store.
func (e *env) content(t testing.TB, id string) (store.FileMeta, []byte) {
	t.Helper()
	m, f, err := e.files.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("file %s: %v", id, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

func startSim(t testing.TB, acsURL, profile string) *sim.Simulator {
	return startSimWith(t, acsURL, profile, nil)
}

func startSimWith(t testing.TB, acsURL, profile string, edit func(*sim.Config)) *sim.Simulator {
	t.Helper()
	p, err := sim.LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sim.Config{ACSURL: acsURL, Profile: p, Devices: 1, RetryMin: 50 * time.Millisecond,
		BootDelay: 50 * time.Millisecond, CRDelay: 20 * time.Millisecond, Timeout: 10 * time.Second,
		LoopbackOnly: true, CRListen: "127.0.0.1:0"}
	if edit != nil {
		edit(&cfg)
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func waitSessions(t testing.TB, d *sim.Device, n int) sim.SessionResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := d.WaitSessions(ctx, n)
	if err != nil {
		t.Fatalf("%v (history %+v)", err, d.Sessions())
	}
	return r
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func deviceID(d *sim.Device) string {
	id := d.Identity()
	return store.DeviceIDFrom(id.OUI, id.ProductClass, id.SerialNumber)
}

func lastSession(t testing.TB, st store.Store, id string) store.SessionRecord {
	t.Helper()
	var recs []store.SessionRecord
	waitFor(t, "the session record", 5*time.Second, func() bool {
		var err error
		recs, err = st.Sessions(context.Background(), id, 1)
		return err == nil && len(recs) == 1
	})
	return recs[0]
}

func health(h *pluginhost.Host, id string) pluginhost.Health {
	p, _ := h.Plugin(id)
	return p.Health()
}
