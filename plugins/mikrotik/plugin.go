package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/provisor/provisor/sdk"
)

// ID is the plugin's id: scripts use require("provisor/x/mikrotik").
const ID = "mikrotik"

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0"

// RouterOS's vendor file type for the script /system reset-configuration
// applies (reference A.8).
const fileFactoryConfig = "X MIKROTIK Factory Configuration File"

// Parameters the plugin reads or writes.
const (
	paramIdentity        = "Device.DeviceInfo.X_MIKROTIK_SystemIdentity"
	paramArch            = "Device.DeviceInfo.X_MIKROTIK_ArchName"
	paramSoftwareVersion = "Device.DeviceInfo.SoftwareVersion"
	paramPeriodicEnable  = "Device.ManagementServer.PeriodicInformEnable"
	paramPeriodicInt     = "Device.ManagementServer.PeriodicInformInterval"
	paramCRUsername      = "Device.ManagementServer.ConnectionRequestUsername"
	paramCRPassword      = "Device.ManagementServer.ConnectionRequestPassword"
)

// Config is the plugin's configuration: the manifest's "config" object,
// overridden by the ACS's.
type Config struct {
	// PeriodicInformInterval is set on 0 BOOTSTRAP, in seconds; 0 leaves
	// the device's own.
	PeriodicInformInterval uint32 `json:"periodicInformInterval"`
	// IdentityFromSerial sets /system identity to IdentityPrefix plus the
	// serial number on 0 BOOTSTRAP.
	IdentityFromSerial bool   `json:"identityFromSerial"`
	IdentityPrefix     string `json:"identityPrefix"`
	// ConnectionRequestCredentials gives each device its own random
	// connection request password on 0 BOOTSTRAP (user name: the serial).
	ConnectionRequestCredentials bool `json:"connectionRequestCredentials"`
	// CPESecret, when set, derives each device's ACS password from its
	// serial number (see onboard -secret), and the plugin vouches for it.
	CPESecret string `json:"cpeSecret"`
	// FileTTL is how long the URLs handed to devices stay valid.
	FileTTL string `json:"fileTTL"`
	// MaxScriptBytes bounds a script runScript accepts.
	MaxScriptBytes int `json:"maxScriptBytes"`
}

func defaultConfig() Config {
	return Config{PeriodicInformInterval: 3600, IdentityFromSerial: true, ConnectionRequestCredentials: true,
		FileTTL: "1h", MaxScriptBytes: 256 << 10}
}

// Plugin is the MikroTik plugin.
type Plugin struct {
	cfg  Config
	ttl  time.Duration
	host sdk.Host
}

// New makes the plugin; Setup configures it when the ACS starts it.
func New() *Plugin { return &Plugin{cfg: defaultConfig(), ttl: time.Hour} }

// ServeOpts lists the plugin's capabilities.
func (p *Plugin) ServeOpts() *sdk.ServeOpts {
	return &sdk.ServeOpts{
		ID: ID, Version: version,
		Setup: p.setup,
		Events: sdk.Events{
			sdk.EventBootstrap: p.bootstrap,
			sdk.EventBoot:      p.boot,
		},
		CPERequests: sdk.CPERequestFunc(p.cpeRequest),
		Functions:   p.functions(),
		Credentials: sdk.CredentialFunc(p.credentials),
		FileTypes:   fileTypes{},
		Profiles: sdk.Profiles{{
			// RouterOS speaks CWMP 1.0 without a SOAP header on its Inform
			// (reference A.4); the reader tolerates that on its own. What
			// the engine can tune: RouterOS answers a batch holding one bad
			// name with a bare 9005 (C.20), which the engine bisects, so
			// smaller batches make each miss cheaper.
			Name: "routeros", Manufacturer: "MikroTik",
			GPVBatchSize: 16, MaxCWMPVersion: "1.0",
			// A full configuration or a firmware image makes RouterOS drop
			// the session and reboot (A.8); a timeout then is expected.
			TransferEndsSession: []string{sdk.FileFirmware},
		}},
	}
}

func (p *Plugin) setup(ctx context.Context, h sdk.Host) error {
	p.host = h
	cfg := defaultConfig()
	if err := h.DecodeConfig(&cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ttl, err := time.ParseDuration(cfg.FileTTL)
	if err != nil || ttl < time.Minute {
		return fmt.Errorf("configuration: fileTTL %q: want a duration of at least 1m", cfg.FileTTL)
	}
	if cfg.MaxScriptBytes <= 0 {
		cfg.MaxScriptBytes = defaultConfig().MaxScriptBytes
	}
	p.cfg, p.ttl = cfg, ttl
	return nil
}

func randomPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b [20]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// bootstrap applies the baseline on first contact and after every reset,
// when the router may have lost everything the ACS set (reference B.3).
func (p *Plugin) bootstrap(ctx context.Context, s sdk.Session) error {
	dev := s.Device()
	var vals []sdk.ParameterValue
	if p.cfg.IdentityFromSerial && dev.SerialNumber != "" {
		vals = append(vals, sdk.String(paramIdentity, p.cfg.IdentityPrefix+dev.SerialNumber))
	}
	if p.cfg.PeriodicInformInterval > 0 {
		vals = append(vals, sdk.Bool(paramPeriodicEnable, true), sdk.Uint(paramPeriodicInt, p.cfg.PeriodicInformInterval))
	}
	if p.cfg.ConnectionRequestCredentials && dev.SerialNumber != "" {
		vals = append(vals, sdk.String(paramCRUsername, dev.SerialNumber), sdk.String(paramCRPassword, randomPassword()))
	}
	if len(vals) > 0 {
		if _, err := s.SetParameterValues(ctx, "provisor-mikrotik-bootstrap", vals...); err != nil {
			return fmt.Errorf("bootstrap defaults: %w", err)
		}
	}
	return s.Tag(ctx, "mikrotik")
}

// expectation is what a transfer the plugin started should lead to at the
// device's next boot.
type expectation struct {
	Kind       string    `json:"kind"` // "firmware" or "replaceConfig"
	Version    string    `json:"version,omitempty"`
	CommandKey string    `json:"commandKey"`
	At         time.Time `json:"at"`
}

const kvExpect = "expect"

func (p *Plugin) expect(ctx context.Context, deviceID string, e expectation) error {
	b, _ := json.Marshal(e)
	return p.host.KV().Set(ctx, deviceID, kvExpect, b)
}

// boot checks what the last firmware or configuration push promised.
func (p *Plugin) boot(ctx context.Context, s sdk.Session) error {
	dev := s.Device()
	b, ok, err := p.host.KV().Get(ctx, dev.ID, kvExpect)
	if err != nil || !ok {
		return err
	}
	var e expectation
	if err := json.Unmarshal(b, &e); err != nil {
		return p.host.KV().Delete(ctx, dev.ID, kvExpect)
	}
	log := s.Logger()
	switch e.Kind {
	case "firmware":
		got := informValue(s, paramSoftwareVersion)
		if got == e.Version {
			log.Info("RouterOS upgraded", "version", got, "command_key", e.CommandKey)
			if err := s.Tag(ctx, "routeros-"+got); err != nil {
				return err
			}
		} else {
			log.Warn("RouterOS did not upgrade", "want", e.Version, "running", got, "command_key", e.CommandKey)
			if time.Since(e.At) < time.Hour {
				return nil // a later boot may still bring it
			}
		}
	case "replaceConfig":
		log.Info("RouterOS came back after a full configuration", "command_key", e.CommandKey, "bootstrap", s.HasEvent(sdk.EventBootstrap))
	}
	return p.host.KV().Delete(ctx, dev.ID, kvExpect)
}

func informValue(s sdk.Session, name string) string {
	for _, v := range s.InformParameters() {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

// cpeRequest notes how the plugin's transfers ended, for the functions'
// callers and the log; the task queue completes its own transfers.
func (p *Plugin) cpeRequest(ctx context.Context, s sdk.Session, r sdk.CPERequest) error {
	tc, ok := r.(*sdk.TransferComplete)
	if !ok || !strings.HasPrefix(tc.CommandKey, "x-"+ID+"-") {
		return nil
	}
	res := map[string]any{"completed": tc.CompleteTime}
	if tc.Fault != nil {
		res["fault"] = tc.Fault.Code
		res["message"] = tc.Fault.Message
		s.Logger().Warn("transfer failed", "command_key", tc.CommandKey, "fault", tc.Fault.Code, "message", tc.Fault.Message)
	} else {
		s.Logger().Info("transfer complete", "command_key", tc.CommandKey)
	}
	b, _ := json.Marshal(res)
	return p.host.KV().Set(ctx, s.Device().ID, "transfer/"+tc.CommandKey, b)
}
