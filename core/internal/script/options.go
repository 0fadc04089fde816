package script

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// ErrorPolicy says what an uncaught exception or a timeout in a handler
// does to the rest of the session's script handlers.
type ErrorPolicy string

// Error policies.
const (
	// Continue logs the error and goes on with the next handler.
	Continue ErrorPolicy = "continue"
	// Fault logs the error, records it as a fault of the device (code
	// 8002), skips the session's remaining script handlers and reports
	// the error to the session, which records it. Tasks queued through
	// the API still run.
	Fault ErrorPolicy = "fault"
)

// ParseErrorPolicy reads a policy name.
func ParseErrorPolicy(s string) (ErrorPolicy, error) {
	switch p := ErrorPolicy(strings.ToLower(strings.TrimSpace(s))); p {
	case "", Continue:
		return Continue, nil
	case Fault:
		return Fault, nil
	}
	return "", fmt.Errorf("unknown script error policy %q (want continue or fault)", s)
}

// Options configure an Engine. Zero fields take the defaults of
// DefaultOptions.
type Options struct {
	// Dir is the scripts directory. Every *.js file directly in it is an
	// entry script, loaded in name order; files in subdirectories are
	// only loaded when required.
	Dir string
	// Entries, when set, restricts the entry scripts to these files
	// (relative to Dir); `provisor script test` uses it to run one file.
	Entries []string
	// Store keeps tags and per-device data (s.device.tag, s.store). Nil
	// makes those calls throw, which suits `provisor script check`.
	Store store.Store
	// Files is the ACS's file store, for s.device.download({file}) and
	// s.device.upload() without a url. Nil makes those two throw; an
	// explicit url works without it.
	Files Files
	// FileURLTTL is how long the URLs handed to devices from Files stay
	// valid (default 7 days, as files.url_ttl for API tasks).
	FileURLTTL time.Duration
	// Logger receives the engine's own messages (reloads, load errors).
	// Script log calls inside handlers go to the session's logger.
	Logger *slog.Logger
	// Secret keys Math.random: each device gets its own sequence, the
	// same in every session, that nobody without the secret can predict.
	// Empty means the sequence depends on the device ID alone, which is
	// fine for tests and unwise for credentials.
	Secret []byte

	// HandlerBudget bounds the JavaScript execution time of one handler
	// invocation; time spent waiting for the device does not count.
	HandlerBudget time.Duration
	// SessionBudget bounds the JavaScript execution time of all handlers
	// of one session together.
	SessionBudget time.Duration
	// LoadBudget bounds the evaluation of one entry file while a bundle
	// loads.
	LoadBudget time.Duration
	// MaxCallStackSize bounds the JavaScript call depth.
	MaxCallStackSize int
	// MaxValues caps how many entries one device answer may turn into
	// (getValues, refresh results, getNames, getAttributes, s.inform).
	MaxValues int
	// MaxStringLen caps a single string taken from the device.
	MaxStringLen int
	// PoolSize is how many idle runtimes each bundle keeps for reuse.
	PoolSize int
	// PollInterval is how often Watch looks for changed files; a
	// negative value disables polling.
	PollInterval time.Duration
	// OnError is the policy for uncaught exceptions and timeouts.
	OnError ErrorPolicy
	// MaxFiles and MaxFileBytes bound what a scripts directory may hold.
	MaxFiles     int
	MaxFileBytes int64
}

// DefaultOptions holds the defaults.
var DefaultOptions = Options{
	Dir:              "./scripts",
	HandlerBudget:    2 * time.Second,
	SessionBudget:    10 * time.Second,
	LoadBudget:       2 * time.Second,
	MaxCallStackSize: 1024,
	MaxValues:        20000,
	MaxStringLen:     256 << 10,
	PoolSize:         64,
	PollInterval:     time.Second,
	OnError:          Continue,
	MaxFiles:         1000,
	MaxFileBytes:     1 << 20,
	FileURLTTL:       7 * 24 * time.Hour,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.Dir == "" {
		o.Dir = d.Dir
	}
	if o.HandlerBudget <= 0 {
		o.HandlerBudget = d.HandlerBudget
	}
	if o.SessionBudget <= 0 {
		o.SessionBudget = d.SessionBudget
	}
	if o.LoadBudget <= 0 {
		o.LoadBudget = d.LoadBudget
	}
	if o.MaxCallStackSize <= 0 {
		o.MaxCallStackSize = d.MaxCallStackSize
	}
	if o.MaxValues <= 0 {
		o.MaxValues = d.MaxValues
	}
	if o.MaxStringLen <= 0 {
		o.MaxStringLen = d.MaxStringLen
	}
	if o.PoolSize <= 0 {
		o.PoolSize = d.PoolSize
	}
	if o.PollInterval == 0 {
		o.PollInterval = d.PollInterval
	}
	if o.OnError == "" {
		o.OnError = d.OnError
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = d.MaxFiles
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = d.MaxFileBytes
	}
	if o.FileURLTTL <= 0 {
		o.FileURLTTL = d.FileURLTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
