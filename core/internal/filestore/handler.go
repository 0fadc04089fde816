package filestore

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/metrics"
	"github.com/provisor/provisor/core/internal/store"
)

var served = metrics.Default.NewCounter("provisor_files_transfers_total",
	"Files served to and received from devices, by direction and result.", "direction", "result")

// Prefix is the URL path under which Handler serves devices.
const Prefix = "/files/"

// Mount routes Prefix to the file handler and everything else to next
// (the CWMP endpoint), for the CPE listener.
func Mount(files *Store, next http.Handler) http.Handler {
	fh := files.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, Prefix) {
			fh.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Handler serves signed download URLs (GET, HEAD) and upload URLs (PUT,
// POST) to devices.
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		parts := strings.Split(rest, "/")
		switch {
		case len(parts) >= 4 && parts[0] == "d":
			s.serveDownload(w, r, parts[1], parts[2], parts[3])
		case len(parts) >= 3 && parts[0] == "u":
			s.serveUpload(w, r, parts[1], parts[2])
		default:
			http.NotFound(w, r)
		}
	})
}

func (s *Store) serveDownload(w http.ResponseWriter, r *http.Request, id, exp, sig string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !validID(id) || !s.verify(sig, "d", id, exp) {
		served.Inc("download", "forbidden")
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if e, err := strconv.ParseInt(exp, 10, 64); err != nil || s.opts.Now().Unix() > e {
		served.Inc("download", "expired")
		http.Error(w, "link expired", http.StatusForbidden)
		return
	}
	m, f, err := s.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		served.Inc("download", "gone")
		http.Error(w, "file deleted", http.StatusGone)
		return
	}
	if err != nil {
		s.log.Error("file not served", "file", id, "err", err)
		http.Error(w, "file unavailable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	served.Inc("download", "ok")
	s.log.Info("file served to device", "file", id, "name", m.Name, "remote", r.RemoteAddr, "range", r.Header.Get("Range"))
	Serve(w, r, m, f)
}

// Serve writes a file with the headers clients and devices rely on: ETag
// (the SHA-256), Last-Modified, Content-Type, and through
// http.ServeContent Range, If-None-Match, If-Range and HEAD.
func Serve(w http.ResponseWriter, r *http.Request, m store.FileMeta, f io.ReadSeeker) {
	h := w.Header()
	h.Set("ETag", `"`+m.SHA256+`"`)
	if m.ContentType != "" {
		h.Set("Content-Type", m.ContentType)
	}
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": m.Name}))
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, m.Name, m.Created, f)
}

func (s *Store) serveUpload(w http.ResponseWriter, r *http.Request, grant, sig string) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		w.Header().Set("Allow", "PUT, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	g, err := s.decodeGrant(grant, sig)
	if err != nil {
		served.Inc("upload", "forbidden")
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxUpload+1<<20)
	var src io.Reader = body
	name := ""
	// TR-069 says PUT; some devices POST a form instead.
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && strings.HasPrefix(mt, "multipart/") {
		part, err := firstFilePart(multipart.NewReader(body, params["boundary"]))
		if err != nil {
			served.Inc("upload", "bad-request")
			http.Error(w, "no file in the form: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer part.Close()
		src, name = part, path.Base(part.FileName())
	}
	if name == "" || name == "." || name == "/" {
		name = defaultUploadName(g, s.opts.Now())
	}
	if fn := s.inspect.Load(); fn != nil {
		head := make([]byte, InspectBytes)
		size := int64(-1)
		if src == io.Reader(body) { // not a form: the request's length is the file's
			size = r.ContentLength
		}
		n, err := io.ReadFull(src, head)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			size = int64(n) // all of it
		case err != nil:
			served.Inc("upload", "error")
			s.log.Warn("device upload failed", "device", g.DeviceID, "err", err)
			http.Error(w, "upload failed", http.StatusBadRequest)
			return
		}
		head = head[:n]
		src = io.MultiReader(bytes.NewReader(head), src)
		named, err := (*fn)(r.Context(), g, name, size, head)
		switch {
		case err != nil:
			s.log.Warn("upload inspection failed; the file keeps its default name", "device", g.DeviceID, "type", g.FileType, "name", name, "err", err)
		case named != "":
			name = named
		}
	}
	m := store.FileMeta{
		Name: sanitizeName(name), Type: g.FileType, Source: store.FileFromDevice, DeviceID: g.DeviceID,
		CommandKey: g.CommandKey, UploadKey: g.Nonce, CreatedBy: "device:" + g.DeviceID,
	}
	m, err = s.put(r.Context(), m, src, s.opts.MaxUpload)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, ErrTooLarge) || errors.As(err, &mbe):
		served.Inc("upload", "too-large")
		http.Error(w, "file too large", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		served.Inc("upload", "error")
		s.log.Warn("device upload failed", "device", g.DeviceID, "err", err)
		http.Error(w, "upload failed", http.StatusInternalServerError)
		return
	}
	served.Inc("upload", "ok")
	s.log.Info("file uploaded by device", "device", g.DeviceID, "file", m.ID, "type", m.Type, "size", m.Size)
	w.WriteHeader(http.StatusCreated)
}

func firstFilePart(mr *multipart.Reader) (*multipart.Part, error) {
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, err
		}
		if p.FileName() != "" || p.FormName() == "file" {
			return p, nil
		}
		p.Close()
	}
}

func defaultUploadName(g UploadGrant, now time.Time) string {
	ext := strings.TrimPrefix(uploadName(g), "upload")
	return g.DeviceID + "-" + now.UTC().Format("20060102T150405Z") + ext
}

// sanitizeName keeps a device-chosen name harmless: printable, no path,
// bounded.
func sanitizeName(n string) string {
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, n)
	if len(n) > 200 {
		n = strings.ToValidUTF8(n[:200], "")
	}
	if n == "" || n == "." || n == ".." {
		n = "upload"
	}
	return n
}
