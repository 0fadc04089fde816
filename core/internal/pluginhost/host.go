// Package pluginhost runs Provisor's out-of-process Go plugins: it finds
// them by their plugin.json manifests, verifies their checksums, starts
// them with hashicorp/go-plugin (gRPC only, automatic mTLS, no host
// environment), supervises them, and puts one hook.Handler per plugin in
// the session's hook chain. A plugin that exits or stops answering is
// restarted with exponential backoff; while it is down, calls on it fail
// at once with an error wrapping ErrUnavailable and sessions go on with
// their other handlers.
//
// A session reaches a plugin at most once per Inform (never once per
// event or parameter); the plugin calls back over the go-plugin broker
// for each device RPC, which the host runs on the real session.
package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/session"
	"github.com/provisor/provisor/core/internal/store"
	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
)

// Store is what plugins' data and tags need of the ACS's store.
type Store interface {
	store.DataStore
	store.DeviceStore
}

// FileInfo describes a file of the ACS's file store.
type FileInfo struct {
	ID           string
	Name         string
	FileType     string
	ContentType  string
	Size         int64
	SHA256       string
	DeviceID     string
	Version      string
	ProductClass string
	OUI          string
	// Plugin is the plugin that stored the file.
	Plugin   string
	Metadata map[string]string
	Created  time.Time
}

// FileQuery selects files; empty fields match all.
type FileQuery struct {
	NamePrefix   string
	FileType     string
	DeviceID     string
	Version      string
	ProductClass string
}

// Files is the file store as plugins use it. URLs are signed, expire
// after ttl, and point at the ACS's CPE-facing listener.
type Files interface {
	Put(ctx context.Context, info FileInfo, r io.Reader) (FileInfo, error)
	// List returns matching files, newest first.
	List(ctx context.Context, q FileQuery) ([]FileInfo, error)
	// URL signs a URL for a file given by id, or by name for the newest
	// file of that name.
	URL(ctx context.Context, file string, ttl time.Duration) (string, error)
	UploadURL(ctx context.Context, deviceID, fileType string, ttl time.Duration) (string, error)
}

// Options configure a Host. Zero fields take the defaults of
// DefaultOptions.
type Options struct {
	// Dir holds one directory per plugin, each with a plugin.json.
	Dir    string
	Logger *slog.Logger
	// Store keeps plugins' per-device data and tags; nil leaves plugins
	// without them.
	Store Store
	// Files is the file store; nil leaves plugins without one.
	Files Files
	// Config overrides a plugin's manifest config, by plugin id.
	Config map[string]json.RawMessage
	// HostVersion is reported to plugins.
	HostVersion string
	// OnStart, when set, is called each time a plugin has started or
	// restarted and answered Describe: the place to (re)register its
	// script functions. It runs on the plugin's supervisor goroutine.
	OnStart func(p *Plugin)

	// CallTimeout bounds the time a plugin may take on its own during a
	// call: between the call and its first device RPC, between the
	// device's answer and the next RPC, and before returning. Time the
	// device takes to answer does not count.
	CallTimeout time.Duration
	// StartTimeout bounds a plugin's start, handshake and set-up.
	StartTimeout time.Duration
	// HealthInterval is how often a running plugin is health-checked;
	// HealthTimeout bounds each check.
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	// BackoffMin and BackoffMax bound the wait before a restart, which
	// doubles with each failure and resets once a plugin has run for
	// StableAfter.
	BackoffMin  time.Duration
	BackoffMax  time.Duration
	StableAfter time.Duration
	// MaxURLTTL caps the lifetime of file URLs plugins ask for.
	MaxURLTTL time.Duration
	// MaxCachedParams caps one Cached subtree answer.
	MaxCachedParams int
	// InspectLimit caps the head of an uploaded file passed to a plugin.
	InspectLimit int
}

// DefaultOptions holds the defaults.
var DefaultOptions = Options{
	CallTimeout:     10 * time.Second,
	StartTimeout:    10 * time.Second,
	HealthInterval:  10 * time.Second,
	HealthTimeout:   2 * time.Second,
	BackoffMin:      100 * time.Millisecond,
	BackoffMax:      30 * time.Second,
	StableAfter:     30 * time.Second,
	MaxURLTTL:       24 * time.Hour,
	MaxCachedParams: 20000,
	InspectLimit:    1 << 20,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&o.CallTimeout, d.CallTimeout)
	set(&o.StartTimeout, d.StartTimeout)
	set(&o.HealthInterval, d.HealthInterval)
	set(&o.HealthTimeout, d.HealthTimeout)
	set(&o.BackoffMin, d.BackoffMin)
	set(&o.BackoffMax, d.BackoffMax)
	set(&o.StableAfter, d.StableAfter)
	set(&o.MaxURLTTL, d.MaxURLTTL)
	if o.MaxCachedParams <= 0 {
		o.MaxCachedParams = d.MaxCachedParams
	}
	if o.InspectLimit <= 0 {
		o.InspectLimit = d.InspectLimit
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HostVersion == "" {
		o.HostVersion = "dev"
	}
	return o
}

// Host runs the plugins of a directory.
type Host struct {
	opts    Options
	log     *slog.Logger
	plugins []*Plugin
	byID    map[string]*Plugin
	closed  sync.Once
}

// Start discovers the plugins of opts.Dir and starts them, waiting until
// each has started or failed its first attempt, so that their profiles
// are known when it returns. Manifests that cannot be read are logged and
// returned joined in the error; the Host is usable either way. An empty
// or missing Dir gives a Host without plugins.
func Start(ctx context.Context, opts Options) (*Host, error) {
	opts = opts.withDefaults()
	h := &Host{opts: opts, log: opts.Logger, byID: map[string]*Plugin{}}
	if opts.Dir == "" {
		return h, nil
	}
	if _, err := os.Stat(opts.Dir); errors.Is(err, os.ErrNotExist) {
		h.log.Info("no plugins directory; running without plugins", "dir", opts.Dir)
		return h, nil
	}
	manifests, errs := Discover(opts.Dir)
	for _, err := range errs {
		h.log.Error("plugin manifest refused", "err", err)
	}
	for _, m := range manifests {
		p := newPlugin(m, &h.opts)
		h.plugins = append(h.plugins, p)
		h.byID[m.ID] = p
		go p.supervise()
	}
	for _, p := range h.plugins {
		select {
		case <-p.firstTry:
		case <-ctx.Done():
			return h, ctx.Err()
		}
	}
	return h, errors.Join(errs...)
}

// Plugin returns a plugin by id.
func (h *Host) Plugin(id string) (*Plugin, bool) {
	p, ok := h.byID[id]
	return p, ok
}

// Plugins returns the plugins in directory order.
func (h *Host) Plugins() []*Plugin { return slices.Clone(h.plugins) }

// Register adds one handler per plugin to the hook chain at the plugin
// stage, in directory order.
func (h *Host) Register(r *hook.Registry) {
	for _, p := range h.plugins {
		r.Register(hook.StagePlugins, p.Handler())
	}
}

// Health reports every plugin's state and counters.
func (h *Host) Health() []Health {
	out := make([]Health, len(h.plugins))
	for i, p := range h.plugins {
		out[i] = p.Health()
	}
	return out
}

// SessionProfiles converts the device profiles plugins announced into
// session engine profiles, named "plugin:<id>:<name>". Append them after
// the operator's own so that those win.
func (h *Host) SessionProfiles() []session.Profile {
	var out []session.Profile
	for _, p := range h.plugins {
		desc := p.description()
		if desc == nil {
			continue
		}
		for _, pr := range desc.Profiles {
			sp := session.Profile{
				Name: "plugin:" + p.ID() + ":" + pr.Name, Manufacturer: pr.Manufacturer, OUI: pr.Oui, ProductClass: pr.ProductClass,
				NumericBooleans: pr.NumericBooleans, NumericNextLevel: pr.NumericNextLevel, DateTimeMillis: pr.DatetimeMillis,
				EmptyBodyTermination: pr.EmptyBodyTermination, ExchangeTimeout: time.Duration(pr.ExchangeTimeoutMs) * time.Millisecond,
				GPVBatchSize: int(pr.GpvBatchSize), MaxCWMPVersion: pr.MaxCwmpVersion,
				TransferEndsSession: slices.Clone(pr.TransferEndsSession),
			}
			if err := sp.CheckVersion(); err != nil {
				h.log.Warn("plugin profile: bad max CWMP version ignored", "plugin", p.ID(), "profile", pr.Name, "err", err)
				sp.MaxCWMPVersion = ""
			}
			out = append(out, sp)
		}
	}
	return out
}

// Close stops every plugin.
func (h *Host) Close(ctx context.Context) error {
	h.closed.Do(func() {
		var wg sync.WaitGroup
		for _, p := range h.plugins {
			wg.Add(1)
			go func() { defer wg.Done(); p.shutdown() }()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
		}
	})
	return nil
}

// FunctionCall is one call of an exported plugin function.
type FunctionCall struct {
	Plugin, Name string
	// Args are the arguments, each JSON.
	Args []json.RawMessage
	// Session is the live session when a script handler calls; nil from
	// the API.
	Session hook.Session
	// Device is the device the call is about when there is no session.
	Device *hook.Device
}

// CallFunction runs an exported function and returns its JSON result;
// this is what require("provisor/x/<plugin>").<name>(…) does in scripts.
func (h *Host) CallFunction(ctx context.Context, c FunctionCall) (json.RawMessage, error) {
	p, ok := h.byID[c.Plugin]
	if !ok {
		return nil, fmt.Errorf("no plugin %q", c.Plugin)
	}
	return p.CallFunction(ctx, c)
}

// Credentials asks the plugins that match the device and provide
// credentials, in order; the first that knows wins. kind is "cpe" or
// "connection-request".
func (h *Host) Credentials(ctx context.Context, kind, username string, d hook.Device, remoteIP string) (user, pass string, found bool, err error) {
	var errs []error
	for _, p := range h.plugins {
		if !p.m.Matches(d) || !p.has("credentials") {
			continue
		}
		u, pw, ok, err := p.credentials(ctx, kind, username, d, remoteIP)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return u, pw, true, nil
		}
	}
	return "", "", false, errors.Join(errs...)
}

// UploadInspection is what a plugin said about an uploaded file.
type UploadInspection struct {
	Plugin   string
	Name     string
	Metadata map[string]string
}

// InspectUpload lets the plugin that declared the file type (and matches
// the device) name the file and read metadata out of its head. handled
// is false when no plugin claims the type.
func (h *Host) InspectUpload(ctx context.Context, d hook.Device, fileType, name string, size int64, head []byte) (UploadInspection, bool, error) {
	if len(head) > h.opts.InspectLimit {
		head = head[:h.opts.InspectLimit]
	}
	for _, p := range h.plugins {
		if !p.m.Matches(d) || !p.declaresUpload(fileType) {
			continue
		}
		res, err := p.handleUpload(ctx, d, fileType, name, size, head)
		return res, true, err
	}
	return UploadInspection{}, false, nil
}

func deviceToProto(d hook.Device) *pluginv1.Device {
	return &pluginv1.Device{Id: d.ID, Manufacturer: d.Manufacturer, Oui: d.OUI, ProductClass: d.ProductClass,
		SerialNumber: d.SerialNumber, New: d.New, Root: d.Root, CwmpVersion: d.Version.String()}
}
