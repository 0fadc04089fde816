// Package config holds the settings of `provisor serve`: their defaults,
// the YAML file that overrides them and the PROVISOR_* environment
// variables that override the file. One table lists every key, so that the
// help text, the documentation and the loader cannot disagree.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

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

	Profiles []session.Profile
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
	numKey("history.events", "50", "event records kept per device", func(c *Config) *int { return &c.HistoryEvents }),
	numKey("limits.max_string_len", "262144", "longest text or attribute value, in bytes", func(c *Config) *int { return &c.MaxStringLen }),
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
			case nil:
			default:
				flat[name] = fmt.Sprint(t)
			}
		}
	}
	profiles, hasProfiles := raw["profiles"]
	delete(raw, "profiles")
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
	if c.Listen == "" {
		return errors.New("listen: empty address")
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
