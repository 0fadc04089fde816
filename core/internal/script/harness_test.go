package script_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/script"
	"github.com/provisor/provisor/core/internal/script/scripttest"
	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

// acs is a real ACS on loopback: SQLite file, session engine, HTTP server,
// and the script engine at the scripts stage.
type acs struct {
	url   string
	dir   string
	store store.Store
	mgr   *session.Manager
	eng   *script.Engine
	hooks *hook.Registry
	logs  *logRecorder
	files *filestore.Store // with acsConfig.files
}

type acsConfig struct {
	opts      script.Options
	discovery bool
	session   session.Config
	// extra handlers at the tasks stage, after the scripts
	after []hook.Handler
	// files gives the scripts a real file store (SQLite and a directory),
	// served beside the CWMP endpoint; noBaseURL leaves its
	// files.base_url unset.
	files, noBaseURL bool
}

func startACS(t testing.TB, files map[string]string, cfg acsConfig) *acs {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	logs := &logRecorder{}
	log := slog.New(logs)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "provisor.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.opts
	o.Dir = dir
	o.Store = st
	o.Logger = log
	// The listener first: the file store's URLs name its address.
	srv := httptest.NewUnstartedServer(nil)
	var fs *filestore.Store
	if cfg.files {
		base := "http://" + srv.Listener.Addr().String()
		if cfg.noBaseURL {
			base = ""
		}
		fs, err = filestore.Open(context.Background(), st, filestore.Options{Dir: filepath.Join(t.TempDir(), "files"), BaseURL: base, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		o.Files = fs
	}
	if o.PollInterval == 0 {
		o.PollInterval = -1
	}
	eng := script.New(o)
	if _, err := eng.Load(); err != nil {
		t.Fatal(err)
	}
	hooks := &hook.Registry{}
	if cfg.discovery {
		hooks.Register(hook.StageBuiltin, session.Discovery{})
	}
	hooks.Register(hook.StageScripts, eng)
	hooks.Register(hook.StageTasks, &session.Tasks{Store: st})
	for _, h := range cfg.after {
		hooks.Register(hook.StageTasks, h)
	}
	mgr := session.NewManager(cfg.session, st, hooks, log)
	h := &server.Handler{Sessions: mgr, Log: log}
	srv.Config.Handler = h
	if fs != nil {
		srv.Config.Handler = filestore.Mount(fs, h)
	}
	srv.Config.ConnContext = h.ConnContext
	srv.Config.ConnState = h.ConnState
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() { eng.Watch(ctx); close(watchDone) }()
	a := &acs{url: srv.URL + "/cwmp", dir: dir, store: st, mgr: mgr, eng: eng, hooks: hooks, logs: logs, files: fs}
	t.Cleanup(func() {
		cancel()
		<-watchDone
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = mgr.Close(sctx)
		srv.Close()
		_ = st.Close(context.Background())
		if t.Failed() || testing.Verbose() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	return a
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// device makes an in-memory TR-181 CPE talking to the ACS over HTTP.
func (a *acs) device(t testing.TB, serial string) *cpe {
	t.Helper()
	d, err := scripttest.NewDevice("tr181", cwmp.DeviceID{Manufacturer: "Provisor Labs", OUI: "00D0B7", ProductClass: "HomeGW", SerialNumber: serial})
	if err != nil {
		t.Fatal(err)
	}
	return &cpe{Device: d, t: t, post: scripttest.HTTPPost(a.url), id: store.DeviceIDFrom("00D0B7", "HomeGW", serial)}
}

type cpe struct {
	*scripttest.Device
	t    testing.TB
	post scripttest.PostFunc
	id   string
}

// session runs one session and returns the RPCs the ACS called.
func (c *cpe) session(events ...cwmp.EventCode) *scripttest.SessionResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Session(ctx, c.post, events...)
	if err != nil {
		c.t.Fatalf("session: %v", err)
	}
	return res
}

// logRecorder keeps every log record, for assertions.
type logRecorder struct {
	mu    sync.Mutex
	recs  []slog.Record
	attrs []slog.Attr
	root  *logRecorder
}

func (l *logRecorder) r() *logRecorder {
	if l.root != nil {
		return l.root
	}
	return l
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(l.attrs...)
	root := l.r()
	root.mu.Lock()
	root.recs = append(root.recs, r)
	root.mu.Unlock()
	return nil
}

func (l *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{root: l.r(), attrs: append(append([]slog.Attr{}, l.attrs...), as...)}
}

func (l *logRecorder) WithGroup(string) slog.Handler { return l }

// find returns the records with the message, each rendered as "k=v …".
func (l *logRecorder) find(msg string) []map[string]string {
	root := l.r()
	root.mu.Lock()
	defer root.mu.Unlock()
	var out []map[string]string
	for _, r := range root.recs {
		if r.Message != msg {
			continue
		}
		m := map[string]string{"level": r.Level.String()}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out = append(out, m)
	}
	return out
}

func (l *logRecorder) String() string {
	root := l.r()
	root.mu.Lock()
	defer root.mu.Unlock()
	var b strings.Builder
	for _, r := range root.recs {
		fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.String())
			return true
		})
		b.WriteByte('\n')
	}
	return b.String()
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
