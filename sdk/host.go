package sdk

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
)

// Host is the ACS as the plugin sees it outside device calls: a logger,
// the plugin's own data and the file store. The plugin gets it in
// ServeOpts.Setup; it stays valid for the life of the process.
type Host interface {
	// Logger writes to the ACS's log, tagged with the plugin.
	Logger() *slog.Logger
	// KV is the plugin's per-device key/value data; other plugins and
	// scripts cannot see it.
	KV() KV
	// Files is the ACS's file store.
	Files() Files
	// DecodeConfig decodes the plugin's configuration (the manifest's
	// "config" object, overridden by the ACS configuration) into v.
	DecodeConfig(v any) error
	// Has reports whether the host offers a capability ("files", "kv", …).
	Has(capability string) bool
}

// KV is small durable per-device data. Values are capped by the ACS
// (64 KiB by default).
type KV interface {
	Get(ctx context.Context, deviceID, key string) (value []byte, found bool, err error)
	Set(ctx context.Context, deviceID, key string, value []byte) error
	Delete(ctx context.Context, deviceID, key string) error
}

// Files is the ACS's file store. Devices reach files through signed URLs
// with an expiry, served on the ACS's CPE listener.
type Files interface {
	// Put stores a file; Name and FileType are required. It returns the
	// file's info with ID, size and hash set.
	Put(ctx context.Context, info FileInfo, data []byte) (FileInfo, error)
	// List returns the files that match, newest first.
	List(ctx context.Context, q FileQuery) ([]FileInfo, error)
	// URL is a URL a device can fetch a file from until ttl passes; file
	// is a FileInfo.ID, or a name for the newest file of that name. The
	// URL's last segment is the file's name.
	URL(ctx context.Context, file string, ttl time.Duration) (string, error)
	// UploadURL is a URL a device can upload a file of the type to, for
	// Upload requests.
	UploadURL(ctx context.Context, deviceID, fileType string, ttl time.Duration) (string, error)
}

type host struct {
	c      pluginv1.HostClient
	log    *slog.Logger
	config json.RawMessage
	caps   []string
}

func (h *host) Logger() *slog.Logger { return h.log }
func (h *host) KV() KV               { return kv{h.c} }
func (h *host) Files() Files         { return files{h.c} }
func (h *host) Has(c string) bool    { return slices.Contains(h.caps, c) }

func (h *host) DecodeConfig(v any) error {
	if len(h.config) == 0 {
		return nil
	}
	return json.Unmarshal(h.config, v)
}

type kv struct{ c pluginv1.HostClient }

func (k kv) Get(ctx context.Context, dev, key string) ([]byte, bool, error) {
	r, err := k.c.KVGet(ctx, &pluginv1.KVGetRequest{DeviceId: dev, Key: key})
	if err != nil {
		return nil, false, hostError(err)
	}
	return r.Value, r.Found, nil
}

func (k kv) Set(ctx context.Context, dev, key string, value []byte) error {
	_, err := k.c.KVSet(ctx, &pluginv1.KVSetRequest{DeviceId: dev, Key: key, Value: value})
	if err != nil {
		return hostError(err)
	}
	return nil
}

func (k kv) Delete(ctx context.Context, dev, key string) error {
	_, err := k.c.KVDelete(ctx, &pluginv1.KVDeleteRequest{DeviceId: dev, Key: key})
	if err != nil {
		return hostError(err)
	}
	return nil
}

type files struct{ c pluginv1.HostClient }

func (f files) Put(ctx context.Context, info FileInfo, data []byte) (FileInfo, error) {
	r, err := f.c.FilePut(ctx, &pluginv1.FilePutRequest{Info: fileInfoToProto(info), Data: data})
	if err != nil {
		return FileInfo{}, hostError(err)
	}
	return fileInfoFromProto(r.Info), nil
}

func (f files) List(ctx context.Context, q FileQuery) ([]FileInfo, error) {
	r, err := f.c.FileList(ctx, &pluginv1.FileListRequest{NamePrefix: q.NamePrefix, FileType: q.FileType, DeviceId: q.DeviceID,
		Version: q.Version, ProductClass: q.ProductClass})
	if err != nil {
		return nil, hostError(err)
	}
	out := make([]FileInfo, len(r.Files))
	for i, fi := range r.Files {
		out[i] = fileInfoFromProto(fi)
	}
	return out, nil
}

func (f files) URL(ctx context.Context, name string, ttl time.Duration) (string, error) {
	r, err := f.c.FileURL(ctx, &pluginv1.FileURLRequest{Name: name, TtlSeconds: int64(ttl / time.Second)})
	if err != nil {
		return "", hostError(err)
	}
	return r.Url, nil
}

func (f files) UploadURL(ctx context.Context, dev, fileType string, ttl time.Duration) (string, error) {
	r, err := f.c.UploadURL(ctx, &pluginv1.UploadURLRequest{DeviceId: dev, FileType: fileType, TtlSeconds: int64(ttl / time.Second)})
	if err != nil {
		return "", hostError(err)
	}
	return r.Url, nil
}
