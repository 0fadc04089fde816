package script

import (
	"context"
	"errors"
	"time"

	"github.com/dop251/goja"

	"github.com/provisor/provisor/core/internal/store"
)

// Files is the ACS's file store as scripts use it: s.device.download({file})
// hands the device a signed URL of a stored file, and s.device.upload()
// without a url hands it a URL that uploads into the store.
// *filestore.Store implements it.
type Files interface {
	// HasBaseURL reports whether the store can make URLs that devices
	// reach (the server's files.base_url is set).
	HasBaseURL() bool
	// Lookup finds a stored file by ID, else by name (the newest of the
	// name). An unknown file is an error wrapping store.ErrNotFound.
	Lookup(ctx context.Context, file string) (store.FileMeta, error)
	// URL returns a URL from which a device may fetch the file for ttl.
	URL(m store.FileMeta, ttl time.Duration) (string, error)
	// DeviceUploadURL returns a URL to which the device may upload one
	// file of the type for ttl; the file is kept with the command key.
	DeviceUploadURL(deviceID, fileType, commandKey string, ttl time.Duration) (string, error)
}

// baseURLHelp tells the operator what to do about a missing files.base_url.
const baseURLHelp = "set files.base_url (PROVISOR_FILES_BASE_URL) to the URL devices reach this server at, e.g. http://acs.example.net:7547"

// needFiles returns the file store, or throws an error that says what the
// operator must configure; what names the kind of URL ("a download URL").
func (v *vm) needFiles(api, what string) Files {
	f := v.e.opts.Files
	if f == nil {
		v.throwError("%s: this server has no file store, so it cannot give the device %s; give url", api, what)
	}
	if !f.HasBaseURL() {
		v.throwError("%s: the server has no files.base_url, so it cannot give the device %s; %s, or give url", api, what, baseURLHelp)
	}
	return f
}

// fileURLTTL is how long a URL handed to a device stays valid: the
// configured time, and at least an hour past the transfer's delay.
func (v *vm) fileURLTTL(delaySeconds uint32) time.Duration {
	return max(v.e.opts.FileURLTTL, time.Duration(delaySeconds)*time.Second+time.Hour)
}

// storedFile resolves a script's file (ID or name) to its metadata and a
// download URL for the device.
func (v *vm) storedFile(bd *binding, api, file string, delaySeconds uint32) (store.FileMeta, string) {
	files := v.needFiles(api, "a download URL")
	var m store.FileMeta
	var err error
	v.blocking(bd, func() { m, err = files.Lookup(bd.ctx, file) })
	if errors.Is(err, store.ErrNotFound) {
		v.throwError("%s: no stored file with the ID or name %q", api, file)
	}
	if err != nil {
		v.throwError("%s: file %q: %v", api, file, err)
	}
	u, err := files.URL(m, v.fileURLTTL(delaySeconds))
	if err != nil {
		v.throwError("%s: file %q: %v", api, file, err)
	}
	return m, u
}

// uploadURL makes the device's URL for an upload into the file store.
func (v *vm) uploadURL(bd *binding, api, fileType, commandKey string, delaySeconds uint32) string {
	files := v.needFiles(api, "an upload URL")
	u, err := files.DeviceUploadURL(bd.s.Device().ID, fileType, commandKey, v.fileURLTTL(delaySeconds))
	if err != nil {
		v.throwError("%s: %v", api, err)
	}
	return u
}

func (v *vm) fileInfo(m store.FileMeta) goja.Value {
	o := v.rt.NewObject()
	_ = o.Set("id", m.ID)
	_ = o.Set("name", m.Name)
	_ = o.Set("fileType", m.Type)
	_ = o.Set("size", m.Size)
	if m.Version != "" {
		_ = o.Set("version", m.Version)
	}
	return o
}
