package pluginhost_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
	dir                  string
	testplugin, v2plugin string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginhost-test-")
	if err != nil {
		panic(err)
	}
	bins.dir = dir
	bins.testplugin = filepath.Join(dir, "testplugin")
	bins.v2plugin = filepath.Join(dir, "v2plugin")
	for out, pkg := range map[string]string{bins.testplugin: "./testdata/testplugin", bins.v2plugin: "./testdata/v2plugin"} {
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

// env is a real ACS on loopback with the plugin host in its hook chain.
type env struct {
	url   string
	store store.Store
	mgr   *session.Manager
	host  *pluginhost.Host
	files *memFiles
}

func startEnv(t testing.TB, opts pluginhost.Options, cfg session.Config, scripts ...hook.Handler) *env {
	t.Helper()
	log := testLogger(t)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "provisor.db"), sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st}
	e.files = newMemFiles(t)
	e.files.st = st
	opts.Logger = log
	opts.Store = st
	if opts.Files == nil {
		opts.Files = e.files
	}
	h, err := pluginhost.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.host = h
	e.files.host = h
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
	srv := httptest.NewUnstartedServer(srvh)
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

// memFiles stands in for the ACS's file store: files in memory, served
// and accepted over HTTP on loopback behind unguessable per-file paths.
type memFiles struct {
	srv  *httptest.Server
	host *pluginhost.Host
	st   store.Store

	mu      sync.Mutex
	files   map[string]pluginhost.FileInfo
	data    map[string][]byte
	tokens  map[string]string // token -> file name
	uploads map[string]upload // token -> where an upload goes
	fetched []string
}

type upload struct{ deviceID, fileType string }

func newMemFiles(t testing.TB) *memFiles {
	f := &memFiles{files: map[string]pluginhost.FileInfo{}, data: map[string][]byte{}, tokens: map[string]string{}, uploads: map[string]upload{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *memFiles) Put(ctx context.Context, info pluginhost.FileInfo, r io.Reader) (pluginhost.FileInfo, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return info, err
	}
	sum := sha256.Sum256(b)
	info.Size, info.SHA256, info.Created = int64(len(b)), hex.EncodeToString(sum[:]), time.Now()
	info.ID = info.SHA256[:20]
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[info.Name], f.data[info.Name] = info, b
	return info, nil
}

func (f *memFiles) List(ctx context.Context, q pluginhost.FileQuery) ([]pluginhost.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []pluginhost.FileInfo
	for _, fi := range f.files {
		if strings.HasPrefix(fi.Name, q.NamePrefix) && (q.FileType == "" || fi.FileType == q.FileType) && (q.DeviceID == "" || fi.DeviceID == q.DeviceID) &&
			(q.Version == "" || fi.Version == q.Version) && (q.ProductClass == "" || fi.ProductClass == q.ProductClass) {
			out = append(out, fi)
		}
	}
	slices.SortFunc(out, func(a, b pluginhost.FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *memFiles) token() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (f *memFiles) URL(ctx context.Context, name string, ttl time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.files[name]; !ok {
		for n, fi := range f.files {
			if fi.ID == name {
				name = n
			}
		}
	}
	if _, ok := f.files[name]; !ok {
		return "", fmt.Errorf("no file %q", name)
	}
	tok := f.token()
	f.tokens[tok] = name
	return f.srv.URL + "/files/" + tok + "/" + filepath.Base(name), nil
}

func (f *memFiles) UploadURL(ctx context.Context, deviceID, fileType string, ttl time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := f.token()
	f.uploads[tok] = upload{deviceID, fileType}
	return f.srv.URL + "/upload/" + tok, nil
}

func (f *memFiles) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "files" && r.Method == http.MethodGet:
		f.mu.Lock()
		name, ok := f.tokens[parts[1]]
		data := f.data[name]
		if ok {
			f.fetched = append(f.fetched, name)
		}
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	case len(parts) == 2 && parts[0] == "upload" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		f.mu.Lock()
		up, ok := f.uploads[parts[1]]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		name := fmt.Sprintf("upload-%s.bin", parts[1])
		meta := map[string]string{}
		if f.host != nil {
			dev, _ := f.deviceOf(up.deviceID)
			if res, handled, err := f.host.InspectUpload(r.Context(), dev, up.fileType, name, int64(len(body)), body); err == nil && handled {
				if res.Name != "" {
					name = res.Name
				}
				meta = res.Metadata
			}
		}
		_, _ = f.Put(r.Context(), pluginhost.FileInfo{Name: name, FileType: up.fileType, DeviceID: up.deviceID, Metadata: meta}, strings.NewReader(string(body)))
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// deviceOf reads the identity of an upload's device from the store.
func (f *memFiles) deviceOf(id string) (hook.Device, bool) {
	d, err := f.st.Device(context.Background(), id)
	if err != nil {
		return hook.Device{ID: id}, false
	}
	return hook.Device{ID: id, Manufacturer: d.Manufacturer, OUI: d.OUI, ProductClass: d.ProductClass, SerialNumber: d.SerialNumber}, true
}

func (f *memFiles) get(name string) (pluginhost.FileInfo, []byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, ok := f.files[name]
	return fi, f.data[name], ok
}

func (f *memFiles) wasFetched(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.fetched, name)
}
