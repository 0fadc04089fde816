package nbi

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/store"
)

type apiFile struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	Version      string    `json:"version,omitempty"`
	ProductClass string    `json:"productClass,omitempty"`
	OUI          string    `json:"oui,omitempty"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	ContentType  string    `json:"contentType"`
	Source       string    `json:"source"`
	DeviceID     string    `json:"deviceId,omitempty"`
	CommandKey   string    `json:"commandKey,omitempty"`
	Created      time.Time `json:"created"`
	CreatedBy    string    `json:"createdBy,omitempty"`
}

func toAPIFile(m store.FileMeta) apiFile {
	return apiFile{ID: m.ID, Name: m.Name, Type: m.Type, Version: m.Version, ProductClass: m.ProductClass, OUI: m.OUI,
		Size: m.Size, SHA256: m.SHA256, ContentType: m.ContentType, Source: m.Source, DeviceID: m.DeviceID,
		CommandKey: m.CommandKey, Created: m.Created, CreatedBy: m.CreatedBy}
}

func (s *Server) files() (*filestore.Store, error) {
	if s.cfg.Files == nil {
		return nil, problem(http.StatusServiceUnavailable, "no-file-store", "no file store on this server")
	}
	return s.cfg.Files, nil
}

// uploadFile stores a file sent as the raw body with its metadata in the
// query (streamed, any size up to the limit), or as multipart/form-data
// with a "file" part and the metadata as form fields.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.files()
	if err != nil {
		return err
	}
	p := queryParams(r, "name", "type", "version", "productClass", "oui", "contentType")
	m := store.FileMeta{Name: p.str("name"), Type: p.str("type"), Version: p.str("version"),
		ProductClass: p.str("productClass"), OUI: p.str("oui"), ContentType: p.str("contentType")}
	if err := p.done(); err != nil {
		return err
	}
	var body io.Reader = r.Body
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		part, err := formFile(multipart.NewReader(r.Body, params["boundary"]), &m)
		if err != nil {
			return err
		}
		defer part.Close()
		body = part
	}
	fields := map[string]string{"name": m.Name, "type": m.Type, "version": m.Version, "productClass": m.ProductClass, "oui": m.OUI, "contentType": m.ContentType}
	if err := filestore.CheckMeta(m); err != nil {
		// Name the field the check complained about.
		msg := trimStorePrefix(err)
		for f := range fields {
			if strings.HasPrefix(msg, f+" ") || strings.HasPrefix(msg, "name ") && f == "name" {
				return badParam(f, "%s", msg)
			}
		}
		return badParam("name", "%s", msg)
	}
	m.Source, m.CreatedBy = store.FileFromAPI, callOf(r).who.name
	m, err = fs.Put(r.Context(), m, body)
	if err != nil {
		return err
	}
	target(r, "file "+m.ID)
	note(r, "name", m.Name)
	note(r, "size", m.Size)
	w.Header().Set("Location", "/api/v1/files/"+m.ID)
	writeJSON(w, http.StatusCreated, toAPIFile(m))
	return nil
}

// formFile reads form fields into m until the "file" part, which it
// returns; fields after the file are not read.
func formFile(mr *multipart.Reader, m *store.FileMeta) (*multipart.Part, error) {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, badParam("file", "the form has no file part")
		}
		if err != nil {
			return nil, badParam("body", "malformed multipart body: %v", err)
		}
		if part.FormName() == "file" {
			if m.Name == "" {
				m.Name = part.FileName()
			}
			return part, nil
		}
		v, err := io.ReadAll(io.LimitReader(part, 1024))
		part.Close()
		if err != nil {
			return nil, badParam(part.FormName(), "unreadable")
		}
		dst := map[string]*string{"name": &m.Name, "type": &m.Type, "version": &m.Version,
			"productClass": &m.ProductClass, "oui": &m.OUI, "contentType": &m.ContentType}[part.FormName()]
		if dst == nil {
			return nil, badParam(part.FormName(), "unknown form field")
		}
		*dst = string(v)
	}
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.files()
	if err != nil {
		return err
	}
	p := queryParams(r, "type", "device", "productClass", "source", "cursor", "limit")
	f := store.FileFilter{Type: p.str("type"), DeviceID: p.str("device"), ProductClass: p.str("productClass"),
		Source: p.str("source"), Before: p.int64("cursor"), Limit: p.intIn("limit", 100, 1, 1000)}
	if err := p.done(); err != nil {
		return err
	}
	if f.Source != "" && f.Source != store.FileFromAPI && f.Source != store.FileFromDevice {
		return badParam("source", "want api or device")
	}
	page, next, err := fs.List(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Files []apiFile `json:"files"`
		Next  string    `json:"next,omitempty"`
	}{Files: make([]apiFile, len(page))}
	for i, m := range page {
		out.Files[i] = toAPIFile(m)
	}
	if next > 0 {
		out.Next = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.files()
	if err != nil {
		return err
	}
	if err := queryParams(r).done(); err != nil {
		return err
	}
	about(r, "id")
	m, err := fs.Stat(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPIFile(m))
	return nil
}

func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.files()
	if err != nil {
		return err
	}
	if err := queryParams(r).done(); err != nil {
		return err
	}
	about(r, "id")
	m, f, err := fs.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	defer f.Close()
	filestore.Serve(w, r, m, f)
	return nil
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) error {
	fs, err := s.files()
	if err != nil {
		return err
	}
	if err := queryParams(r).done(); err != nil {
		return err
	}
	id := r.PathValue("id")
	target(r, "file "+id)
	about(r, "id")
	if err := fs.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
