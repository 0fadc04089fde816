package nbi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/connreq"
	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/metrics"
	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

var bg = context.Background()

// env is a whole ACS on loopback: SQLite file, session engine, CPE
// listener with the file handler, connection request client and the API.
type env struct {
	t      testing.TB
	db     *sqlite.DB
	files  *filestore.Store
	cr     *connreq.Client
	api    *Server
	apiSrv *httptest.Server
	cpeSrv *httptest.Server
	mgr    *session.Manager
	cwmp   string // the CWMP endpoint URL
	tokens map[Role]string
}

type envOpt func(*Config)

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	dir := t.TempDir()
	log := testLog(t)
	db, err := sqlite.Open(bg, filepath.Join(dir, "provisor.db"), sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, tokens: map[Role]string{}}
	e.cpeSrv = httptest.NewUnstartedServer(nil)
	e.files, err = filestore.Open(bg, db, filestore.Options{Dir: filepath.Join(dir, "files"), BaseURL: "http://" + e.cpeSrv.Listener.Addr().String(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	e.cr = connreq.New(connreq.Config{Timeout: 2 * time.Second, PerDevice: 50 * time.Millisecond, Rate: 1000})
	cfg := Config{Store: db, Files: e.files, ConnReq: e.cr, Log: log, Registry: metrics.NewRegistry(),
		WebhookBackoff: 20 * time.Millisecond, Heartbeat: 200 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	if e.api, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	hooks := &hook.Registry{}
	hooks.Register(hook.StageBuiltin, session.Discovery{})
	hooks.Register(hook.StageTasks, &session.Tasks{Store: db})
	e.api.RegisterHooks(hooks)
	e.mgr = session.NewManager(session.Config{ExchangeTimeout: 5 * time.Second}, db, hooks, log)
	h := &server.Handler{Sessions: e.mgr, Log: log}
	e.cpeSrv.Config.Handler = filestore.Mount(e.files, h)
	e.cpeSrv.Config.ConnContext = h.ConnContext
	e.cpeSrv.Config.ConnState = h.ConnState
	e.cpeSrv.Start()
	e.cwmp = e.cpeSrv.URL + "/cwmp"
	e.apiSrv = httptest.NewServer(e.api.Handler())
	for _, r := range []Role{RoleViewer, RoleOperator, RoleAdmin} {
		secret, hash := NewToken()
		if _, err := db.AddToken(bg, store.Token{Name: r.String(), Role: r.String(), Hash: hash}); err != nil {
			t.Fatal(err)
		}
		e.tokens[r] = secret
	}
	t.Cleanup(func() {
		e.apiSrv.Close()
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		_ = e.mgr.Close(ctx)
		e.cpeSrv.Close()
		e.cr.Close()
		e.api.Close()
		if err := db.Close(bg); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return e
}

// resp is an API answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r resp) problem(t testing.TB) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q for %d: %s", ct, r.status, r.body)
	}
	var p Problem
	r.json(t, &p)
	if p.Status != r.status || p.Type == "" || p.Title == "" {
		t.Fatalf("malformed problem %+v", p)
	}
	return p
}

// do calls the API with the role's token (RoleNone: no token). body may
// be a string (sent as JSON) or an io.Reader (sent as is).
func (e *env) do(role Role, method, path string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.apiSrv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, ok := body.(string); ok {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != RoleNone {
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, b}
}

// bootstrap makes a test CPE known to the ACS.
func (e *env) bootstrap(serial string) *testCPE {
	e.t.Helper()
	c := newTestCPE(e.t, e.cwmp, serial)
	c.session("0 BOOTSTRAP", "1 BOOT")
	id := store.DeviceIDFrom(c.id.OUI, c.id.ProductClass, c.id.SerialNumber)
	// The device's connection request password, as a provisioning script
	// that set it on the device would have stored it.
	if err := e.db.SetData(bg, id, DataConnReqPassword, []byte(c.crPass)); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func devID(c *testCPE) string {
	return store.DeviceIDFrom(c.id.OUI, c.id.ProductClass, c.id.SerialNumber)
}

func esc(s string) string { return url.PathEscape(s) }

// waitTask polls a task until pred holds.
func (e *env) waitTask(id int64, within time.Duration, pred func(apiTask) bool) apiTask {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := e.do(RoleViewer, "GET", "/api/v1/tasks/"+itoa64(id), nil)
		var t apiTask
		r.json(e.t, &t)
		if pred(t) {
			return t
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("task %d did not get there: %s", id, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
