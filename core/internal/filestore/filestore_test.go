package filestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/sqlite"
)

var ctx = context.Background()

type env struct {
	db    *sqlite.DB
	files *Store
	srv   *httptest.Server
	now   time.Time
	dir   string
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "p.db"), sqlite.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(ctx) })
	e := &env{db: db, now: time.Now(), dir: filepath.Join(dir, "files")}
	srv := httptest.NewUnstartedServer(nil)
	opts.Dir, opts.Log = e.dir, log
	opts.BaseURL = "http://" + srv.Listener.Addr().String() + "/"
	if opts.Now == nil {
		opts.Now = func() time.Time { return e.now }
	}
	if e.files, err = Open(ctx, db, opts); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = Mount(e.files, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot) // stands for the CWMP endpoint
	}))
	srv.Start()
	t.Cleanup(srv.Close)
	e.srv = srv
	if err := db.UpsertDevice(ctx, store.Device{ID: "00D0B7-GW-1"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func do(t *testing.T, method, url string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestPutGetDelete(t *testing.T) {
	e := newEnv(t, Options{MaxFile: 100})
	data := []byte("firmware bytes")
	m, err := e.files.Put(ctx, store.FileMeta{Name: "fw.npk", Type: "1 Firmware Upgrade Image", Version: "7.13", ProductClass: "RB4011"}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if m.Size != int64(len(data)) || m.SHA256 != hex.EncodeToString(sum[:]) || m.Source != store.FileFromAPI || !validID(m.ID) {
		t.Fatalf("%+v", m)
	}
	got, f, err := e.files.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(b, data) || got.Version != "7.13" {
		t.Fatalf("%q %+v", b, got)
	}
	list, _, err := e.files.List(ctx, store.FileFilter{})
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	if err := e.files.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.files.path(m.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("bytes kept after delete")
	}
	if err := e.files.Delete(ctx, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
}

func TestPutRefusesAndKeepsNothing(t *testing.T) {
	e := newEnv(t, Options{MaxFile: 10})
	for name, m := range map[string]store.FileMeta{
		"too large":    {Name: "big.bin", Type: "1 Firmware Upgrade Image"},
		"no type":      {Name: "x.bin"},
		"path in name": {Name: "../x", Type: "t"},
		"control char": {Name: "a\nb", Type: "t"},
		"no name":      {Type: "t"},
	} {
		_, err := e.files.Put(ctx, m, strings.NewReader("0123456789ABCDEF"))
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	list, _, _ := e.files.List(ctx, store.FileFilter{})
	if len(list) != 0 {
		t.Fatalf("%d files kept", len(list))
	}
	n := 0
	_ = filepath.WalkDir(e.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != keyFile {
			n++
		}
		return nil
	})
	if n != 0 {
		t.Fatalf("%d files on disk", n)
	}
}

func TestDownloadURL(t *testing.T) {
	e := newEnv(t, Options{})
	data := bytes.Repeat([]byte("0123456789"), 100)
	m, err := e.files.Put(ctx, store.FileMeta{Name: "script.alter", Type: "3 Vendor Configuration File"}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.files.URL(m, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(u, "/script.alter") {
		t.Fatalf("URL does not end in the name: %s", u)
	}
	resp, body := do(t, "GET", u, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get("ETag") != `"`+m.SHA256+`"` {
		t.Fatalf("GET: %d %d bytes, etag %s", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	resp, body = do(t, "GET", u, nil, "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || string(body) != "0123456789" || resp.Header.Get("Content-Range") != "bytes 10-19/1000" {
		t.Fatalf("Range: %d %q %s", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	resp, body = do(t, "HEAD", u, nil)
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") != "1000" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = do(t, "GET", u, nil, "If-None-Match", `"`+m.SHA256+`"`)
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	resp, _ = do(t, "PUT", u, strings.NewReader("x"))
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PUT on download: %d", resp.StatusCode)
	}
	// Tampering with any part of the URL, or waiting too long, fails.
	bad := strings.Replace(u, m.ID, newID(), 1)
	if resp, _ := do(t, "GET", bad, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("other id: %d", resp.StatusCode)
	}
	parts := strings.Split(u, "/")
	parts[len(parts)-3] = "9999999999" // a later expiry with the old signature
	if resp, _ := do(t, "GET", strings.Join(parts, "/"), nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("extended expiry: %d", resp.StatusCode)
	}
	e.now = e.now.Add(2 * time.Hour)
	if resp, _ := do(t, "GET", u, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("expired: %d", resp.StatusCode)
	}
	e.now = e.now.Add(-2 * time.Hour)
	if err := e.files.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, "GET", u, nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("deleted: %d", resp.StatusCode)
	}
	// Other paths go to the CWMP endpoint.
	if resp, _ := do(t, "POST", e.srv.URL+"/cwmp", nil); resp.StatusCode != http.StatusTeapot {
		t.Fatalf("mount: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", e.srv.URL+"/files/x", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown file path: %d", resp.StatusCode)
	}
}

func TestUpload(t *testing.T) {
	e := newEnv(t, Options{MaxUpload: 1 << 10})
	u, err := e.files.UploadURLFor(UploadGrant{DeviceID: "00D0B7-GW-1", FileType: "1 Vendor Configuration File", CommandKey: "ck1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := do(t, "PUT", u, strings.NewReader("/export v1"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	// A retry to the same URL replaces the first upload.
	resp, _ = do(t, "PUT", u, strings.NewReader("/export v2"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("second PUT: %d", resp.StatusCode)
	}
	list, _, _ := e.files.List(ctx, store.FileFilter{DeviceID: "00D0B7-GW-1"})
	if len(list) != 1 || list[0].CommandKey != "ck1" || list[0].Source != store.FileFromDevice || list[0].Type != "1 Vendor Configuration File" {
		t.Fatalf("%+v", list)
	}
	_, f, err := e.files.Get(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "/export v2" {
		t.Fatalf("content %q", b)
	}

	// A form POST, as some devices send.
	u2, _ := e.files.UploadURL("00D0B7-GW-1", "2 Vendor Log File", time.Hour)
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("note", "ignored")
	fw, _ := mw.CreateFormFile("file", "router.log")
	_, _ = fw.Write([]byte("log line"))
	_ = mw.Close()
	resp, _ = do(t, "POST", u2, &form, "Content-Type", mw.FormDataContentType())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST form: %d", resp.StatusCode)
	}
	list, _, _ = e.files.List(ctx, store.FileFilter{Type: "2 Vendor Log File"})
	if len(list) != 1 || list[0].Name != "router.log" || list[0].Size != 8 {
		t.Fatalf("%+v", list)
	}

	for name, c := range map[string]struct {
		method, url, body string
		status            int
	}{
		"too large":  {"PUT", u, strings.Repeat("x", 2<<10), http.StatusRequestEntityTooLarge},
		"tampered":   {"PUT", strings.Replace(u, "/files/u/e", "/files/u/f", 1), "x", http.StatusForbidden},
		"bad method": {"GET", u, "", http.StatusMethodNotAllowed},
	} {
		resp, _ := do(t, c.method, c.url, strings.NewReader(c.body))
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.status)
		}
	}
	e.now = e.now.Add(2 * time.Hour)
	if resp, _ := do(t, "PUT", u, strings.NewReader("late")); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("expired upload: %d", resp.StatusCode)
	}
}

// TestUploadInspector: an inspector sees the head of a device's upload
// and names it; the bytes stored are the whole upload either way, and
// an inspector that fails never costs the device its upload.
func TestUploadInspector(t *testing.T) {
	big := strings.Repeat("# line\n", InspectBytes/7+100) // longer than the head
	for _, c := range []struct {
		name, body string
		named      string
		err        error
		wantName   string
		wantHead   int
		wantSize   int64
	}{
		{"named", "# by RouterOS 7.14.2\n/ip address\n", "7DCF-export.rsc", nil, "7DCF-export.rsc", 33, 33},
		{"kept", "anything", "", nil, "00D0B7-GW-1-", 8, 8},
		{"failed", "anything", "x.rsc", errors.New("not an export"), "00D0B7-GW-1-", 8, 8},
		{"longer than the head", big, "big.rsc", nil, "big.rsc", InspectBytes, int64(len(big))},
		{"path in the name", "x", "../../etc/passwd", nil, ".._.._etc_passwd", 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			var (
				gotGrant UploadGrant
				gotHead  []byte
				gotSize  int64
			)
			e.files.SetInspector(func(_ context.Context, g UploadGrant, name string, size int64, head []byte) (string, error) {
				gotGrant, gotHead, gotSize = g, append([]byte(nil), head...), size
				return c.named, c.err
			})
			u, _ := e.files.UploadURLFor(UploadGrant{DeviceID: "00D0B7-GW-1", FileType: "1 Vendor Configuration File", CommandKey: "ck"}, time.Hour)
			if resp, _ := do(t, "PUT", u, strings.NewReader(c.body)); resp.StatusCode != http.StatusCreated {
				t.Fatalf("PUT: %d", resp.StatusCode)
			}
			if gotGrant.DeviceID != "00D0B7-GW-1" || gotGrant.CommandKey != "ck" || len(gotHead) != c.wantHead ||
				string(gotHead) != c.body[:c.wantHead] || gotSize != c.wantSize {
				t.Fatalf("inspector saw %+v, %d bytes of head, size %d", gotGrant, len(gotHead), gotSize)
			}
			list, _, _ := e.files.List(ctx, store.FileFilter{DeviceID: "00D0B7-GW-1"})
			if len(list) != 1 || !strings.HasPrefix(list[0].Name, c.wantName) {
				t.Fatalf("stored %+v", list)
			}
			_, f, err := e.files.Get(ctx, list[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if b, _ := io.ReadAll(f); string(b) != c.body {
				t.Fatalf("stored %d bytes, sent %d", len(b), len(c.body))
			}
		})
	}
}

func TestNoBaseURL(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "p.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	s, err := Open(ctx, db, Options{Dir: filepath.Join(dir, "f")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.URL(store.FileMeta{ID: newID()}, 0); !errors.Is(err, ErrNoBaseURL) {
		t.Fatal(err)
	}
	if _, err := s.UploadURL("d-1", "t", 0); !errors.Is(err, ErrNoBaseURL) {
		t.Fatal(err)
	}
	if _, err := Open(ctx, db, Options{Dir: filepath.Join(dir, "f"), BaseURL: "ftp://x"}); err == nil {
		t.Fatal("ftp base accepted")
	}
}

// Open removes temporary files and bytes whose metadata is gone, and keeps
// the signing key, so that URLs survive a restart.
func TestOpenSweepsAndKeepsKey(t *testing.T) {
	e := newEnv(t, Options{})
	m, err := e.files.Put(ctx, store.FileMeta{Name: "a", Type: "t"}, strings.NewReader("keep"))
	if err != nil {
		t.Fatal(err)
	}
	u1, _ := e.files.URL(m, time.Hour)
	orphan := newID()
	_ = os.MkdirAll(filepath.Dir(e.files.path(orphan)), 0o750)
	_ = os.WriteFile(e.files.path(orphan), []byte("x"), 0o600)
	_ = os.WriteFile(e.files.path(orphan)+".123.tmp", []byte("x"), 0o600)
	s2, err := Open(ctx, e.db, Options{Dir: e.dir, BaseURL: e.files.opts.BaseURL, Now: e.files.opts.Now, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.files.path(orphan)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("orphan kept")
	}
	if _, err := os.Stat(e.files.path(orphan) + ".123.tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("temp file kept")
	}
	if _, err := os.Stat(e.files.path(m.ID)); err != nil {
		t.Fatal("live file removed")
	}
	u2, _ := s2.URL(m, time.Hour)
	if u1 != u2 {
		t.Fatal("signing key changed across opens")
	}
}

// Lookup finds a file by ID, else the newest API file of the name; a
// device's upload answers to its ID only.
func TestLookup(t *testing.T) {
	e := newEnv(t, Options{})
	put := func(name, body string) store.FileMeta {
		t.Helper()
		m, err := e.files.Put(ctx, store.FileMeta{Name: name, Type: "1 Firmware Upgrade Image"}, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(time.Second)
		return m
	}
	old, newer := put("fw.bin", "v1"), put("fw.bin", "v2")
	hexName := put(newID(), "named like an ID")
	u, err := e.files.DeviceUploadURL("00D0B7-GW-1", "1 Vendor Configuration File", "ck-lookup", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "planted.bin")
	_, _ = fw.Write([]byte("from a device"))
	_ = mw.Close()
	if resp, _ := do(t, "POST", u, &form, "Content-Type", mw.FormDataContentType()); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	list, _, _ := e.files.List(ctx, store.FileFilter{DeviceID: "00D0B7-GW-1"})
	if len(list) != 1 || list[0].CommandKey != "ck-lookup" {
		t.Fatalf("device upload: %+v", list)
	}
	planted := list[0]

	for _, c := range []struct {
		name, file, want string
	}{
		{"by ID", old.ID, old.ID},
		{"by name, newest", "fw.bin", newer.ID},
		{"a name that looks like an ID", hexName.Name, hexName.ID},
		{"device upload by ID", planted.ID, planted.ID},
		{"device upload by name", "planted.bin", ""},
		{"unknown", "nope.bin", ""},
		{"unknown ID", newID(), ""},
		{"empty", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := e.files.Lookup(ctx, c.file)
			if c.want == "" {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("got %+v, %v; want not found", m, err)
				}
				return
			}
			if err != nil || m.ID != c.want {
				t.Fatalf("got %+v, %v; want %s", m, err, c.want)
			}
		})
	}
}
