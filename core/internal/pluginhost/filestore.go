package pluginhost

import (
	"context"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/store"
)

// FromFileStore adapts the ACS's file store to what plugins use. Files a
// plugin stores are marked as created by "plugin:<id>".
func FromFileStore(fs *filestore.Store) Files {
	return &fileStore{fs: fs}
}

type fileStore struct {
	fs *filestore.Store
}

// maxListed bounds a List, which pages through the store.
const maxListed = 10000

func fromMeta(m store.FileMeta) FileInfo {
	return FileInfo{ID: m.ID, Name: m.Name, FileType: m.Type, ContentType: m.ContentType, Size: m.Size, SHA256: m.SHA256,
		DeviceID: m.DeviceID, Version: m.Version, ProductClass: m.ProductClass, OUI: m.OUI, Created: m.Created,
		Plugin: strings.TrimPrefix(m.CreatedBy, "plugin:")}
}

func (f *fileStore) Put(ctx context.Context, info FileInfo, r io.Reader) (FileInfo, error) {
	m, err := f.fs.Put(ctx, store.FileMeta{Name: info.Name, Type: info.FileType, ContentType: info.ContentType,
		DeviceID: info.DeviceID, Version: info.Version, ProductClass: info.ProductClass, OUI: info.OUI,
		CreatedBy: "plugin:" + info.Plugin}, r)
	if err != nil {
		return FileInfo{}, err
	}
	return fromMeta(m), nil
}

func (f *fileStore) List(ctx context.Context, q FileQuery) ([]FileInfo, error) {
	var out []FileInfo
	filter := store.FileFilter{Type: q.FileType, DeviceID: q.DeviceID, ProductClass: q.ProductClass, Limit: 1000}
	for seen := 0; seen < maxListed; {
		page, next, err := f.fs.List(ctx, filter)
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			if strings.HasPrefix(m.Name, q.NamePrefix) && (q.Version == "" || m.Version == q.Version) {
				out = append(out, fromMeta(m))
			}
		}
		seen += len(page)
		if next == 0 || len(page) == 0 {
			break
		}
		filter.Before = next
	}
	return out, nil
}

// URL resolves a file by ID or by name the way scripts do: a name finds
// the newest file stored through the API or by a plugin, never one a
// device uploaded under a name of its choosing.
func (f *fileStore) URL(ctx context.Context, file string, ttl time.Duration) (string, error) {
	m, err := f.fs.Lookup(ctx, file)
	if err != nil {
		return "", err
	}
	return f.fs.URL(m, ttl)
}

func (f *fileStore) UploadURL(ctx context.Context, deviceID, fileType string, ttl time.Duration) (string, error) {
	return f.fs.UploadURL(deviceID, fileType, ttl)
}

// DeviceLookup reads a device's identity.
type DeviceLookup interface {
	Device(ctx context.Context, id string) (store.Device, error)
}

// UploadInspector names the files devices upload through the plugin that
// declares the upload's file type and matches the device (see
// InspectUpload); install it with filestore.Store.SetInspector once the
// plugins have started. The metadata a plugin reads from the file is
// logged: the file store keeps no free-form metadata.
func (h *Host) UploadInspector(devices DeviceLookup) filestore.Inspector {
	return func(ctx context.Context, g filestore.UploadGrant, name string, size int64, head []byte) (string, error) {
		d := hook.Device{ID: g.DeviceID}
		if dev, err := devices.Device(ctx, g.DeviceID); err == nil {
			d.Manufacturer, d.OUI, d.ProductClass, d.SerialNumber = dev.Manufacturer, dev.OUI, dev.ProductClass, dev.SerialNumber
		}
		res, handled, err := h.InspectUpload(ctx, d, g.FileType, name, size, head)
		if err != nil || !handled {
			return "", err
		}
		if len(res.Metadata) > 0 {
			attrs := []any{"plugin", res.Plugin, "device", g.DeviceID, "type", g.FileType, "name", res.Name}
			for _, k := range slices.Sorted(maps.Keys(res.Metadata)) {
				attrs = append(attrs, "meta."+k, res.Metadata[k])
			}
			h.log.Info("plugin read a device upload", attrs...)
		}
		return res.Name, nil
	}
}
