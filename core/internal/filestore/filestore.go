// Package filestore keeps firmware images, configuration files and the
// files devices upload: metadata in the store, bytes in a directory.
//
// Devices fetch and upload files over plain HTTP(S) on the CPE listener,
// with no credentials: each URL carries an HMAC-SHA256 signature and an
// expiry instead (TR-069 lets the ACS leave Download's Username and
// Password empty). A download URL ends in the file's name, since some
// devices act on it (MikroTik runs a Vendor Configuration File whose name
// ends in ".alter"). An upload URL is bound to one device, file type and
// upload, so that a repeated upload (a retry) replaces the first.
package filestore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// Meta is the part of the store that keeps file metadata.
type Meta interface {
	AddFile(ctx context.Context, f store.FileMeta) (*store.FileMeta, error)
	File(ctx context.Context, id string) (store.FileMeta, error)
	Files(ctx context.Context, f store.FileFilter) ([]store.FileMeta, int64, error)
	DeleteFile(ctx context.Context, id string) error
	FileIDs(ctx context.Context, fn func(id string) error) error
}

// Options configure a Store. Zero fields take the defaults noted.
type Options struct {
	// Dir holds the file bytes (created if missing).
	Dir string
	// BaseURL is how devices reach the CPE listener, e.g.
	// "https://acs.example.net:7547". Without it URL and UploadURL fail.
	BaseURL string
	// Key signs URLs. Default: 32 random bytes kept in Dir/.signing-key,
	// so URLs stay valid across restarts.
	Key []byte
	// MaxFile caps a file put through the API (default 1 GiB); MaxUpload a
	// file a device uploads (default 64 MiB).
	MaxFile   int64
	MaxUpload int64
	Log       *slog.Logger
	Now       func() time.Time
}

// Errors.
var (
	ErrNoBaseURL = errors.New("filestore: no device-facing base URL configured (files.base_url)")
	ErrTooLarge  = errors.New("filestore: file too large")
)

// Store is the file store. Methods are safe for concurrent use.
type Store struct {
	meta    Meta
	opts    Options
	base    *url.URL
	log     *slog.Logger
	inspect atomic.Pointer[Inspector]
}

// InspectBytes is how much of a device's upload an Inspector sees.
const InspectBytes = 64 << 10

// Inspector looks at the head of a file a device uploads (at most
// InspectBytes) and may name it: "" keeps the default name. size is the
// whole file's size, -1 when not known yet. An error keeps the upload,
// under its default name: a device's file is never refused for it.
type Inspector func(ctx context.Context, g UploadGrant, name string, size int64, head []byte) (string, error)

// SetInspector installs (nil removes) the Inspector of device uploads;
// the ACS sets the plugins' once they have started.
func (s *Store) SetInspector(fn Inspector) {
	if fn == nil {
		s.inspect.Store(nil)
		return
	}
	s.inspect.Store(&fn)
}

const keyFile = ".signing-key"

// Open prepares the directory, loads or creates the signing key, and
// removes what a crash may have left: temporary files, and bytes whose
// metadata was deleted before they were.
func Open(ctx context.Context, meta Meta, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("filestore: no directory")
	}
	if opts.MaxFile <= 0 {
		opts.MaxFile = 1 << 30
	}
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = 64 << 20
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{meta: meta, opts: opts, log: opts.Log.With("component", "files")}
	if opts.BaseURL != "" {
		u, err := url.Parse(strings.TrimSuffix(opts.BaseURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("filestore: base URL %q: want http(s)://host[:port][/path]", opts.BaseURL)
		}
		s.base = u
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, err
	}
	if len(s.opts.Key) == 0 {
		key, err := loadKey(filepath.Join(opts.Dir, keyFile))
		if err != nil {
			return nil, err
		}
		s.opts.Key = key
	}
	if err := s.sweep(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func loadKey(p string) ([]byte, error) {
	key, err := os.ReadFile(p)
	if err == nil && len(key) >= 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key = make([]byte, 32)
	_, _ = rand.Read(key)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, key, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return nil, err
	}
	return key, nil
}

// sweep removes temporary files and bytes without metadata.
func (s *Store) sweep(ctx context.Context) error {
	known := map[string]bool{}
	if err := s.meta.FileIDs(ctx, func(id string) error { known[id] = true; return nil }); err != nil {
		return err
	}
	return filepath.WalkDir(s.opts.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if name == keyFile {
			return nil
		}
		if strings.HasSuffix(name, ".tmp") || (validID(name) && !known[name]) {
			s.log.Info("removing leftover file", "path", p)
			_ = os.Remove(p)
		}
		return nil
	})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// path of a file's bytes; two levels keep directories small.
func (s *Store) path(id string) string { return filepath.Join(s.opts.Dir, id[:2], id) }

// CheckMeta validates what a caller may set on a file.
func CheckMeta(m store.FileMeta) error {
	if err := checkText("name", m.Name, 255); err != nil {
		return err
	}
	if strings.ContainsAny(m.Name, `/\`) || m.Name == "." || m.Name == ".." {
		return store.Invalid("name %q: no path separators", m.Name)
	}
	if err := checkText("type", m.Type, 128); err != nil {
		return err
	}
	for _, f := range []struct {
		name, v string
	}{{"version", m.Version}, {"productClass", m.ProductClass}, {"oui", m.OUI}, {"contentType", m.ContentType}} {
		if f.v != "" {
			if err := checkText(f.name, f.v, 128); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkText(field, v string, max int) error {
	if v == "" || len(v) > max {
		return store.Invalid("%s must be 1 to %d bytes", field, max)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return store.Invalid("%s holds a control character", field)
		}
	}
	return nil
}

// Put stores a file read from r and returns its metadata with ID, size,
// hash and time set. m.Source defaults to store.FileFromAPI. Nothing is
// kept when reading, writing or the metadata fails.
func (s *Store) Put(ctx context.Context, m store.FileMeta, r io.Reader) (store.FileMeta, error) {
	if m.Source == "" {
		m.Source = store.FileFromAPI
	}
	limit := s.opts.MaxFile
	if m.Source == store.FileFromDevice {
		limit = s.opts.MaxUpload
	}
	return s.put(ctx, m, r, limit)
}

func (s *Store) put(ctx context.Context, m store.FileMeta, r io.Reader, limit int64) (store.FileMeta, error) {
	if err := CheckMeta(m); err != nil {
		return m, err
	}
	m.ID = newID()
	if m.ContentType == "" {
		m.ContentType = mime.TypeByExtension(path.Ext(m.Name))
		if m.ContentType == "" {
			m.ContentType = "application/octet-stream"
		}
	}
	final := s.path(m.ID)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return m, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(final), m.ID+".*.tmp")
	if err != nil {
		return m, err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(readerCtx{ctx, r}, limit+1))
	if err != nil {
		return m, err
	}
	if n > limit {
		return m, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	// Durable before the metadata says the file exists.
	if err := tmp.Sync(); err != nil {
		return m, err
	}
	if err := tmp.Close(); err != nil {
		return m, err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return m, err
	}
	ok = true
	m.Size, m.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	m.Created = store.Millis(s.opts.Now())
	replaced, err := s.meta.AddFile(ctx, m)
	if err != nil {
		os.Remove(final)
		return m, err
	}
	if replaced != nil {
		s.removeBytes(replaced.ID)
	}
	return m, nil
}

// readerCtx stops a long copy when the context ends.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (rc readerCtx) Read(p []byte) (int, error) {
	if err := rc.ctx.Err(); err != nil {
		return 0, err
	}
	return rc.r.Read(p)
}

func (s *Store) removeBytes(id string) {
	if !validID(id) {
		return
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("file bytes not removed", "file", id, "err", err)
	}
}

// Get returns a file's metadata and its bytes, which the caller closes.
func (s *Store) Get(ctx context.Context, id string) (store.FileMeta, *os.File, error) {
	m, err := s.meta.File(ctx, id)
	if err != nil {
		return m, nil, err
	}
	if !validID(m.ID) {
		return m, nil, fmt.Errorf("%w: file id %q", store.ErrCorrupt, m.ID)
	}
	f, err := os.Open(s.path(m.ID))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil, fmt.Errorf("%w: bytes of file %s are missing", store.ErrCorrupt, m.ID)
	}
	return m, f, err
}

// Stat returns a file's metadata.
func (s *Store) Stat(ctx context.Context, id string) (store.FileMeta, error) {
	return s.meta.File(ctx, id)
}

// Lookup finds a file by its ID or, failing that, by its name: the newest
// file of that name put through the API (or by a plugin). Files devices
// uploaded are found by ID only, so that no device can plant a file under
// a name an operator's script hands to other devices. An unknown file is
// store.ErrNotFound.
func (s *Store) Lookup(ctx context.Context, file string) (store.FileMeta, error) {
	if file == "" {
		return store.FileMeta{}, fmt.Errorf("%w: no file named", store.ErrNotFound)
	}
	if validID(file) {
		m, err := s.meta.File(ctx, file)
		if !errors.Is(err, store.ErrNotFound) {
			return m, err
		}
	}
	page, _, err := s.meta.Files(ctx, store.FileFilter{Name: file, Source: store.FileFromAPI, Limit: 1})
	if err != nil {
		return store.FileMeta{}, err
	}
	if len(page) == 0 {
		return store.FileMeta{}, fmt.Errorf("%w: no file with the ID or name %q", store.ErrNotFound, file)
	}
	return page[0], nil
}

// List lists files newest first.
func (s *Store) List(ctx context.Context, f store.FileFilter) ([]store.FileMeta, int64, error) {
	return s.meta.Files(ctx, f)
}

// Delete removes a file: metadata first, so that nobody is handed a file
// whose bytes are going.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.meta.DeleteFile(ctx, id); err != nil {
		return err
	}
	s.removeBytes(id)
	return nil
}

// ---- signed URLs ----

func (s *Store) sign(kind string, parts ...string) string {
	m := hmac.New(sha256.New, s.opts.Key)
	m.Write([]byte(kind))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	// 128 bits are plenty against guessing and keep URLs short.
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (s *Store) verify(sig, kind string, parts ...string) bool {
	return hmac.Equal([]byte(sig), []byte(s.sign(kind, parts...)))
}

func (s *Store) expiry(ttl time.Duration) string {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return strconv.FormatInt(s.opts.Now().Add(ttl).Unix(), 10)
}

// HasBaseURL reports whether the store can make device-facing URLs.
func (s *Store) HasBaseURL() bool { return s.base != nil }

// URL returns a URL that lets a device fetch the file for ttl (default
// 24 h). Its last segment is the file's name.
func (s *Store) URL(m store.FileMeta, ttl time.Duration) (string, error) {
	if s.base == nil {
		return "", ErrNoBaseURL
	}
	if !validID(m.ID) {
		return "", store.Invalid("file id %q", m.ID)
	}
	exp := s.expiry(ttl)
	return s.base.String() + "/files/d/" + m.ID + "/" + exp + "/" + s.sign("d", m.ID, exp) + "/" + url.PathEscape(m.Name), nil
}

// UploadGrant is what an upload URL allows.
type UploadGrant struct {
	DeviceID   string `json:"d"`
	FileType   string `json:"t"`
	CommandKey string `json:"k,omitempty"`
	Expires    int64  `json:"e"`
	Nonce      string `json:"n"`
}

// UploadURL returns a URL to which the device may upload one file of the
// type for ttl (default 24 h).
func (s *Store) UploadURL(deviceID, fileType string, ttl time.Duration) (string, error) {
	return s.UploadURLFor(UploadGrant{DeviceID: deviceID, FileType: fileType}, ttl)
}

// UploadURLFor is UploadURL with the Upload task's command key recorded on
// the file the device sends.
func (s *Store) UploadURLFor(g UploadGrant, ttl time.Duration) (string, error) {
	if s.base == nil {
		return "", ErrNoBaseURL
	}
	if err := store.CheckDeviceID(g.DeviceID); err != nil {
		return "", err
	}
	if err := checkText("file type", g.FileType, 128); err != nil {
		return "", err
	}
	exp, _ := strconv.ParseInt(s.expiry(ttl), 10, 64)
	g.Expires = exp
	var nonce [9]byte
	_, _ = rand.Read(nonce[:])
	g.Nonce = base64.RawURLEncoding.EncodeToString(nonce[:])
	b, _ := json.Marshal(g)
	grant := base64.RawURLEncoding.EncodeToString(b)
	return s.base.String() + "/files/u/" + grant + "/" + s.sign("u", grant) + "/" + uploadName(g), nil
}

// DeviceUploadURL is UploadURLFor in plain arguments: a URL to which
// the device may upload one file of the type for ttl, stored with the
// command key of the Upload that hands it out.
func (s *Store) DeviceUploadURL(deviceID, fileType, commandKey string, ttl time.Duration) (string, error) {
	return s.UploadURLFor(UploadGrant{DeviceID: deviceID, FileType: fileType, CommandKey: commandKey}, ttl)
}

// uploadName is the cosmetic last segment of an upload URL.
func uploadName(g UploadGrant) string {
	ext := ".bin"
	switch {
	case strings.Contains(g.FileType, "Configuration"):
		ext = ".cfg"
	case strings.Contains(g.FileType, "Log"):
		ext = ".log"
	}
	return "upload" + ext
}

func (s *Store) decodeGrant(grant, sig string) (UploadGrant, error) {
	var g UploadGrant
	if !s.verify(sig, "u", grant) {
		return g, errBadSignature
	}
	b, err := base64.RawURLEncoding.DecodeString(grant)
	if err != nil || json.Unmarshal(b, &g) != nil {
		return g, errBadSignature
	}
	if s.opts.Now().Unix() > g.Expires {
		return g, errExpired
	}
	return g, nil
}

var (
	errBadSignature = errors.New("bad signature")
	errExpired      = errors.New("link expired")
)
