// Package config holds the settings of `provisor serve`: their defaults,
// the YAML file that overrides them and the PROVISOR_* environment
// variables that override the file. One table lists every key, so that the
// help text, the documentation and the loader cannot disagree.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/session"
)

// Config is the whole server configuration.
type Config struct {
	Listen          string
	Path            string
	DataDir         string
	Database        string
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration

	ExchangeTimeout time.Duration
	SessionTimeout  time.Duration
	SupersedeWait   time.Duration
	GPVBatchSize    int

	MaxBodyBytes  int64
	MaxDepth      int
	MaxElements   int
	MaxAttributes int
	MaxStringLen  int

	HistorySessions int
	HistoryEvents   int

	ReadAtResolution time.Duration

	APIListen, APITLSCert, APITLSKey string
	APIOnlineWindow                  time.Duration
	APIWebhooks, APIWebhookSecret    string
	APIAutoPromoteAfter              int
	FilesDir, FilesBaseURL           string
	FilesURLTTL                      time.Duration
	FilesMaxUpload                   int64
	ConnReqTimeout, ConnReqPerDevice time.Duration
	ConnReqRate                      float64
	ConnReqUsername, ConnReqPassword string

	PluginsDir        string
	PluginCallTimeout time.Duration
	// PluginConfig holds each plugin's own settings (plugins.config.<id>
	// in the file) as JSON.
	PluginConfig map[string]json.RawMessage

	ScriptsDir          string
	ScriptHandlerBudget time.Duration
	ScriptSessionBudget time.Duration
	ScriptOnError       string

	Profiles []session.Profile

	// CPE-facing security (see docs/configuration.md, "Security").
	AllowFrom      string
	TrustedProxies string

	TLSListen            string
	TLSCert, TLSKey      string
	TLSClientCA          string
	TLSRequireClientCert bool
	TLSClientIdentity    string
	TLSAllowFrom         string
	TLSSessionTickets    bool
	TLSLegacyCiphers     bool

	AuthMode                 string
	AuthRealm                string
	AuthUsername             string
	AuthPassword             string
	AuthShared               bool
	AuthRotateOnBootstrap    bool
	AuthRebootstrap          string
	AuthAllowBasicWithoutTLS bool
	AuthNonceLifetime        time.Duration
	AuthDigestAlgorithms     string
	AuthFailureLimit         int
	AuthFailureLimitIP       int
	AuthBackoff              time.Duration
	AuthBackoffMax           time.Duration

	MaxSessions int
	RetryAfter  time.Duration
	IPRate      float64
	IPBurst     int
	TableSize   int

	// DebugListen serves net/http/pprof and the store's writer counters
	// on their own listener; empty serves nothing.
	DebugListen      string
	DebugAllowRemote bool
}

// Key describes one setting.
type Key struct {
	Name    string // YAML key, dotted for nested sections
	Default string
	Help    string
	set     func(c *Config, v string) error
}

// Env is the environment variable of the key.
func (k Key) Env() string {
	return "PROVISOR_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k.Name))
}

func strKey(name, def, help string, p func(*Config) *string) Key {
	return Key{Name: name, Default: def, Help: help, set: func(c *Config, v string) error { *p(c) = v; return nil }}
}

func durKey(name, def, help string, p func(*Config) *time.Duration) Key {
	return Key{Name: name, Default: def, Help: help, set: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("not a duration: %q", v)
		}
		*p(c) = d
		return nil
	}}
}

func numKey[T int | int64](name, def, help string, p func(*Config) *T) Key {
	return Key{Name: name, Default: def, Help: help, set: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("not a non-negative number: %q", v)
		}
		*p(c) = T(n)
		return nil
	}}
}

func boolKey(name, def, help string, p func(*Config) *bool) Key {
	return Key{Name: name, Default: def, Help: help, set: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			// YAML 1.1 spellings, which YAML 1.2 parsers leave as strings.
			switch strings.ToLower(v) {
			case "yes", "on":
				b, err = true, nil
			case "no", "off":
				b, err = false, nil
			default:
				return fmt.Errorf("not a boolean: %q", v)
			}
		}
		*p(c) = b
		return nil
	}}
}

func floatKey(name, def, help string, p func(*Config) *float64) Key {
	return Key{Name: name, Default: def, Help: help, set: func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return fmt.Errorf("not a non-negative number: %q", v)
		}
		*p(c) = f
		return nil
	}}
}

// Keys lists every setting with its default.
var Keys = []Key{
	strKey("listen", ":7547", "address of the CPE endpoint (HTTP)", func(c *Config) *string { return &c.Listen }),
	strKey("path", "", "URL path of the CPE endpoint; empty accepts any path", func(c *Config) *string { return &c.Path }),
	strKey("data_dir", "./data", "directory for the database and files", func(c *Config) *string { return &c.DataDir }),
	strKey("database", "", "SQLite database file; empty means <data_dir>/provisor.db", func(c *Config) *string { return &c.Database }),
	strKey("log.level", "info", "debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }),
	strKey("log.format", "text", "text or json", func(c *Config) *string { return &c.LogFormat }),
	durKey("shutdown_timeout", "30s", "how long SIGTERM waits for live sessions before cutting them off", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
	durKey("session.exchange_timeout", "30s", "wait for the CPE's next POST before ending the session", func(c *Config) *time.Duration { return &c.ExchangeTimeout }),
	durKey("session.session_timeout", "10m", "upper bound of one whole session", func(c *Config) *time.Duration { return &c.SessionTimeout }),
	durKey("session.supersede_wait", "2s", "how long a second Inform from a device waits for its live session to end", func(c *Config) *time.Duration { return &c.SupersedeWait }),
	numKey("session.gpv_batch_size", "32", "names per GetParameterValues during discovery", func(c *Config) *int { return &c.GPVBatchSize }),
	numKey("limits.max_body_bytes", "4194304", "largest CPE message after decompression (larger: 413)", func(c *Config) *int64 { return &c.MaxBodyBytes }),
	numKey("limits.max_depth", "32", "deepest element nesting in a CPE message", func(c *Config) *int { return &c.MaxDepth }),
	numKey("limits.max_elements", "300000", "most elements in one CPE message", func(c *Config) *int { return &c.MaxElements }),
	numKey("limits.max_attributes", "32", "most attributes on one element", func(c *Config) *int { return &c.MaxAttributes }),
	numKey("history.sessions", "20", "session records kept per device", func(c *Config) *int { return &c.HistorySessions }),
	strKey("api.listen", ":7557", "address of the northbound API; empty runs no API", func(c *Config) *string { return &c.APIListen }),
	strKey("api.tls_cert", "", "PEM certificate: the API serves HTTPS when this and api.tls_key are set", func(c *Config) *string { return &c.APITLSCert }),
	strKey("api.tls_key", "", "the API certificate's private key", func(c *Config) *string { return &c.APITLSKey }),
	durKey("api.online_window", "0s", "a device informed within this counts as online; 0s: its own periodic inform interval plus 10%", func(c *Config) *time.Duration { return &c.APIOnlineWindow }),
	strKey("api.webhooks", "", "comma-separated URLs that receive every event as a signed JSON POST", func(c *Config) *string { return &c.APIWebhooks }),
	strKey("api.webhook_secret", "", "HMAC-SHA256 key of webhook signatures; required with api.webhooks", func(c *Config) *string { return &c.APIWebhookSecret }),
	numKey("api.auto_promote_after", "0", "promote a parameter to an index after this many queries read trees to filter on it; 0 never", func(c *Config) *int { return &c.APIAutoPromoteAfter }),
	strKey("files.dir", "", "directory of stored files; empty means <data_dir>/files", func(c *Config) *string { return &c.FilesDir }),
	strKey("files.base_url", "", "how devices reach the CPE listener, e.g. https://acs.example.net:7547 (Download and Upload tasks, and scripts that hand devices stored files, need it)", func(c *Config) *string { return &c.FilesBaseURL }),
	durKey("files.url_ttl", "168h", "validity of file URLs put into tasks and handed out by scripts", func(c *Config) *time.Duration { return &c.FilesURLTTL }),
	numKey("files.max_upload_bytes", "67108864", "largest file a device may upload (larger: 413)", func(c *Config) *int64 { return &c.FilesMaxUpload }),
	durKey("connreq.timeout", "3s", "wait for a device to answer a connection request", func(c *Config) *time.Duration { return &c.ConnReqTimeout }),
	durKey("connreq.per_device_interval", "5s", "least time between two connection requests to one device", func(c *Config) *time.Duration { return &c.ConnReqPerDevice }),
	floatKey("connreq.rate", "50", "connection requests per second across all devices", func(c *Config) *float64 { return &c.ConnReqRate }),
	strKey("connreq.username", "", "connection request user name for devices without their own ({serial} and {id} expand)", func(c *Config) *string { return &c.ConnReqUsername }),
	strKey("connreq.password", "", "connection request password for devices without their own", func(c *Config) *string { return &c.ConnReqPassword }),
	strKey("plugins.dir", "", "directory of plugin folders with plugin.json manifests; empty means no plugins (make run uses bin/plugins)", func(c *Config) *string { return &c.PluginsDir }),
	durKey("plugins.call_timeout", "10s", "time a plugin may take for one call, waiting for the device not counted", func(c *Config) *time.Duration { return &c.PluginCallTimeout }),
	strKey("scripts.dir", "./scripts", "directory of the provisioning scripts; changes load without a restart", func(c *Config) *string { return &c.ScriptsDir }),
	durKey("scripts.handler_budget", "2s", "JavaScript time one script handler may use; waiting for the device does not count", func(c *Config) *time.Duration { return &c.ScriptHandlerBudget }),
	durKey("scripts.session_budget", "10s", "JavaScript time all script handlers of one session may use", func(c *Config) *time.Duration { return &c.ScriptSessionBudget }),
	strKey("scripts.on_error", "continue", "continue, or fault: skip the session's other script handlers and record a device fault", func(c *Config) *string { return &c.ScriptOnError }),
	numKey("history.events", "50", "event records kept per device", func(c *Config) *int { return &c.HistoryEvents }),
	durKey("params.read_at_resolution", "1h", "a value read again unchanged moves its stored readAt only once it is this much newer; 0s: always (every periodic session rewrites the tree)", func(c *Config) *time.Duration { return &c.ReadAtResolution }),
	numKey("limits.max_string_len", "262144", "longest text or attribute value, in bytes", func(c *Config) *int { return &c.MaxStringLen }),

	strKey("allow_from", "", "source addresses (CIDRs) admitted on the HTTP listener; empty admits all", func(c *Config) *string { return &c.AllowFrom }),
	strKey("trusted_proxies", "", "proxies (CIDRs) whose Forwarded / X-Forwarded-For headers name the client", func(c *Config) *string { return &c.TrustedProxies }),
	strKey("tls.listen", "", "address of the HTTPS CPE endpoint; empty: no HTTPS", func(c *Config) *string { return &c.TLSListen }),
	strKey("tls.cert", "", "PEM certificate chain of the HTTPS endpoint (reloaded on SIGHUP)", func(c *Config) *string { return &c.TLSCert }),
	strKey("tls.key", "", "PEM private key of the HTTPS endpoint (reloaded on SIGHUP)", func(c *Config) *string { return &c.TLSKey }),
	strKey("tls.client_ca", "", "PEM CA bundle for CPE client certificates; empty: no client certificates", func(c *Config) *string { return &c.TLSClientCA }),
	boolKey("tls.require_client_cert", "false", "refuse TLS handshakes without a client certificate", func(c *Config) *bool { return &c.TLSRequireClientCert }),
	strKey("tls.client_identity", "cn", "client-certificate field naming the device: cn, serial_number, dns or uri", func(c *Config) *string { return &c.TLSClientIdentity }),
	strKey("tls.allow_from", "", "source addresses (CIDRs) admitted on the HTTPS listener; empty admits all", func(c *Config) *string { return &c.TLSAllowFrom }),
	boolKey("tls.session_tickets", "true", "TLS session resumption with session tickets", func(c *Config) *bool { return &c.TLSSessionTickets }),
	boolKey("tls.legacy_ciphers", "false", "also offer TLS_RSA_WITH_AES_128_CBC_SHA (TR-069's mandatory suite) to old CPEs", func(c *Config) *bool { return &c.TLSLegacyCiphers }),
	strKey("auth.mode", "any", "CPE authentication: digest, basic, any or none (profiles override it)", func(c *Config) *string { return &c.AuthMode }),
	strKey("auth.realm", "provisor", "HTTP authentication realm", func(c *Config) *string { return &c.AuthRealm }),
	strKey("auth.username", "provisor-bootstrap", "user name of the shared bootstrap credential", func(c *Config) *string { return &c.AuthUsername }),
	strKey("auth.password", "", "password of the shared bootstrap credential; empty: generated once into <data_dir>/bootstrap-credential", func(c *Config) *string { return &c.AuthPassword }),
	boolKey("auth.shared", "true", "accept the shared bootstrap credential from devices without their own", func(c *Config) *bool { return &c.AuthShared }),
	boolKey("auth.rotate_on_bootstrap", "true", "at 0 BOOTSTRAP, replace the shared credential with a generated per-device one", func(c *Config) *bool { return &c.AuthRotateOnBootstrap }),
	strKey("auth.rebootstrap", "refuse", "0 BOOTSTRAP with the shared credential from a device that has its own (factory reset): refuse, or accept and rotate again", func(c *Config) *string { return &c.AuthRebootstrap }),
	boolKey("auth.allow_basic_without_tls", "false", "accept Basic authentication over plain HTTP", func(c *Config) *bool { return &c.AuthAllowBasicWithoutTLS }),
	durKey("auth.nonce_lifetime", "5m", "how long a Digest nonce stays fresh", func(c *Config) *time.Duration { return &c.AuthNonceLifetime }),
	strKey("auth.digest_algorithms", "MD5,SHA-256", "Digest algorithms offered, in order", func(c *Config) *string { return &c.AuthDigestAlgorithms }),
	numKey("auth.failure_limit", "5", "failed authentications of one device before back-off", func(c *Config) *int { return &c.AuthFailureLimit }),
	numKey("auth.failure_limit_ip", "50", "failed authentications from one address (IPv6: /64) before back-off", func(c *Config) *int { return &c.AuthFailureLimitIP }),
	durKey("auth.backoff", "1s", "first back-off after the failure limit; it doubles with each further failure", func(c *Config) *time.Duration { return &c.AuthBackoff }),
	durKey("auth.backoff_max", "10m", "longest back-off", func(c *Config) *time.Duration { return &c.AuthBackoffMax }),
	numKey("limits.max_sessions", "1000", "live sessions; an Inform beyond them gets 503 (0: no limit)", func(c *Config) *int { return &c.MaxSessions }),
	durKey("limits.retry_after", "60s", "Retry-After sent with 503 when the session limit is reached", func(c *Config) *time.Duration { return &c.RetryAfter }),
	floatKey("limits.ip_rate", "20", "requests per second from one address outside live sessions (0: no limit)", func(c *Config) *float64 { return &c.IPRate }),
	numKey("limits.ip_burst", "100", "burst allowed above limits.ip_rate", func(c *Config) *int { return &c.IPBurst }),
	numKey("limits.table_size", "100000", "entries of each per-address, per-device and per-nonce table", func(c *Config) *int { return &c.TableSize }),
	strKey("debug.listen", "", "address serving Go profiles (/debug/pprof/) and store counters (/debug/store); empty: off. Loopback only unless debug.allow_remote", func(c *Config) *string { return &c.DebugListen }),
	boolKey("debug.allow_remote", "false", "let debug.listen be a non-loopback address (profiles are unauthenticated)", func(c *Config) *bool { return &c.DebugAllowRemote }),
}

// Default returns the configuration with every default applied.
func Default() Config {
	var c Config
	for _, k := range Keys {
		if err := k.set(&c, k.Default); err != nil {
			panic("config default of " + k.Name + ": " + err.Error())
		}
	}
	return c
}

// Load builds the configuration: defaults, then the YAML file at path (if
// path is not empty), then PROVISOR_* variables from env (os.Environ form).
func Load(path string, env []string) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, err
		}
		if err := c.applyYAML(data); err != nil {
			return c, fmt.Errorf("%s: %w", path, err)
		}
	}
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	for _, k := range Keys {
		if v, ok := vars[k.Env()]; ok {
			if err := k.set(&c, v); err != nil {
				return c, fmt.Errorf("%s: %w", k.Env(), err)
			}
		}
	}
	if c.Database == "" {
		c.Database = filepath.Join(c.DataDir, "provisor.db")
	}
	return c, c.validate()
}

func (c *Config) applyYAML(data []byte) error {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return err
	}
	flat := map[string]string{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := prefix + k
			switch t := v.(type) {
			case map[string]any:
				walk(name+".", t)
			case []any: // address lists, algorithm lists
				parts := make([]string, len(t))
				for i, x := range t {
					parts[i] = fmt.Sprint(x)
				}
				flat[name] = strings.Join(parts, ",")
			case nil:
			default:
				flat[name] = fmt.Sprint(t)
			}
		}
	}
	profiles, hasProfiles := raw["profiles"]
	delete(raw, "profiles")
	// Each plugin's settings are its own business: they go to it as JSON.
	if pl, ok := raw["plugins"].(map[string]any); ok {
		if pc, ok := pl["config"].(map[string]any); ok {
			c.PluginConfig = map[string]json.RawMessage{}
			for id, v := range pc {
				b, err := json.Marshal(v)
				if err != nil {
					return fmt.Errorf("plugins.config.%s: %w", id, err)
				}
				c.PluginConfig[id] = b
			}
			delete(pl, "config")
		}
	}
	walk("", raw)
	known := map[string]Key{}
	for _, k := range Keys {
		known[k.Name] = k
	}
	var errs []error
	for name, v := range flat {
		k, ok := known[name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown key %q", name))
			continue
		}
		if err := k.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if hasProfiles {
		b, _ := yaml.Marshal(profiles)
		if err := yaml.Unmarshal(b, &c.Profiles); err != nil {
			errs = append(errs, fmt.Errorf("profiles: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) validate() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log.format %q: want text or json", c.LogFormat)
	}
	if c.Listen == "" && c.TLSListen == "" {
		return errors.New("listen and tls.listen are both empty: no CPE endpoint")
	}
	if err := c.validateDebug(); err != nil {
		return err
	}
	return c.validateSecurity()
}

// validateDebug refuses a debug listener reachable from the network unless
// the operator asked for it: profiles and counters are served without
// authentication.
func (c *Config) validateDebug() error {
	if c.DebugListen == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.DebugListen)
	if err != nil {
		return fmt.Errorf("debug.listen %q: %w", c.DebugListen, err)
	}
	if !c.DebugAllowRemote && !loopbackHost(host) {
		return fmt.Errorf("debug.listen %q is not a loopback address; use 127.0.0.1 or [::1], or set debug.allow_remote", c.DebugListen)
	}
	return nil
}

// loopbackHost reports whether host names only loopback addresses. An
// empty host means every interface.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (c *Config) validateSecurity() error {
	if !server.ValidMode(c.AuthMode, false) {
		return fmt.Errorf("auth.mode %q: want digest, basic, any or none", c.AuthMode)
	}
	switch c.AuthRebootstrap {
	case server.RebootstrapRefuse:
	case server.RebootstrapAccept:
		// Accepting makes sense only to give the device a new credential.
		if !c.AuthShared || !c.AuthRotateOnBootstrap {
			return errors.New("auth.rebootstrap accept needs auth.shared and auth.rotate_on_bootstrap: the re-admitted device is to get a new credential")
		}
	default:
		return fmt.Errorf("auth.rebootstrap %q: want refuse or accept", c.AuthRebootstrap)
	}
	for _, a := range strings.Split(c.AuthDigestAlgorithms, ",") {
		if a = strings.ToUpper(strings.TrimSpace(a)); a != "MD5" && a != "SHA-256" {
			return fmt.Errorf("auth.digest_algorithms: %q is not MD5 or SHA-256", a)
		}
	}
	if c.TLSListen != "" && (c.TLSCert == "" || c.TLSKey == "") {
		return errors.New("tls.listen needs tls.cert and tls.key")
	}
	switch c.TLSClientIdentity {
	case server.IdentityCN, server.IdentitySerialNumber, server.IdentityDNS, server.IdentityURI:
	default:
		return fmt.Errorf("tls.client_identity %q: want cn, serial_number, dns or uri", c.TLSClientIdentity)
	}
	for key, v := range map[string]string{"allow_from": c.AllowFrom, "tls.allow_from": c.TLSAllowFrom, "trusted_proxies": c.TrustedProxies} {
		if _, err := server.ParsePrefixes(v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	for i, p := range c.Profiles {
		if err := p.CheckVersion(); err != nil {
			return fmt.Errorf("profiles[%d] (%s): %w", i, p.Name, err)
		}
		if p.Auth == "" {
			continue
		}
		if !server.ValidMode(p.Auth, true) {
			return fmt.Errorf("profiles[%d] (%s): auth %q: want digest, basic, any, none or allow-list", i, p.Name, p.Auth)
		}
		allow, err := server.ParsePrefixList(p.AllowFrom)
		if err != nil {
			return fmt.Errorf("profiles[%d] (%s): allow_from: %w", i, p.Name, err)
		}
		if p.Auth == server.ModeAllowList && len(allow) == 0 {
			return fmt.Errorf("profiles[%d] (%s): auth allow-list needs allow_from", i, p.Name)
		}
	}
	return nil
}

// Help is the table of keys printed by `provisor serve --help`.
func Help() string {
	var b strings.Builder
	for _, k := range Keys {
		def := k.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(&b, "  %-26s %-36s default %s\n      %s\n", k.Name, k.Env(), def, k.Help)
	}
	return b.String()
}
