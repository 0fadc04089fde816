package pluginhost

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogBridge hands go-plugin's logging, and with it every line a plugin
// writes to stderr, to the ACS's slog logger. Plugin-side debug chatter
// of go-plugin itself is kept at debug level.
type hclogBridge struct {
	l    *slog.Logger
	name string
	args []any
}

func newHCLogBridge(l *slog.Logger) hclog.Logger { return &hclogBridge{l: l} }

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	}
	return hclog.Error
}

func (b *hclogBridge) Log(level hclog.Level, msg string, args ...any) {
	lvl := slogLevel(level)
	ctx := context.Background()
	if !b.l.Enabled(ctx, lvl) {
		return
	}
	all := make([]any, 0, len(b.args)+len(args)+2)
	if b.name != "" {
		all = append(all, "logger", b.name)
	}
	all = append(all, b.args...)
	all = append(all, args...)
	// go-plugin appends the plugin's own timestamp, which the ACS's record
	// already has, and names the executable "plugin", which would hide the
	// plugin's id.
	for i := 0; i+1 < len(all); i += 2 {
		switch k, _ := all[i].(string); k {
		case "timestamp":
			all = append(all[:i], all[i+2:]...)
			i -= 2
		case "plugin":
			if _, ok := all[i+1].(string); ok && strings.Contains(all[i+1].(string), "/") {
				all[i] = "executable"
			}
		}
	}
	b.l.Log(ctx, lvl, msg, all...)
}

func (b *hclogBridge) Trace(msg string, args ...any) { b.Log(hclog.Trace, msg, args...) }
func (b *hclogBridge) Debug(msg string, args ...any) { b.Log(hclog.Debug, msg, args...) }
func (b *hclogBridge) Info(msg string, args ...any)  { b.Log(hclog.Info, msg, args...) }
func (b *hclogBridge) Warn(msg string, args ...any)  { b.Log(hclog.Warn, msg, args...) }
func (b *hclogBridge) Error(msg string, args ...any) { b.Log(hclog.Error, msg, args...) }

func (b *hclogBridge) enabled(l hclog.Level) bool {
	return b.l.Enabled(context.Background(), slogLevel(l))
}

func (b *hclogBridge) IsTrace() bool { return false }
func (b *hclogBridge) IsDebug() bool { return b.enabled(hclog.Debug) }
func (b *hclogBridge) IsInfo() bool  { return b.enabled(hclog.Info) }
func (b *hclogBridge) IsWarn() bool  { return b.enabled(hclog.Warn) }
func (b *hclogBridge) IsError() bool { return b.enabled(hclog.Error) }

func (b *hclogBridge) ImpliedArgs() []any { return b.args }

func (b *hclogBridge) With(args ...any) hclog.Logger {
	return &hclogBridge{l: b.l, name: b.name, args: append(append([]any(nil), b.args...), args...)}
}

func (b *hclogBridge) Name() string { return b.name }

func (b *hclogBridge) Named(name string) hclog.Logger {
	n := name
	if b.name != "" {
		n = b.name + "." + name
	}
	return &hclogBridge{l: b.l, name: n, args: b.args}
}

func (b *hclogBridge) ResetNamed(name string) hclog.Logger {
	return &hclogBridge{l: b.l, name: name, args: b.args}
}

// SetLevel is ignored: the slog handler's level rules.
func (b *hclogBridge) SetLevel(hclog.Level) {}

func (b *hclogBridge) GetLevel() hclog.Level {
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if b.l.Enabled(context.Background(), l) {
			return hclogLevel(l)
		}
	}
	return hclog.Error
}

func (b *hclogBridge) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(b.StandardWriter(opts), "", 0)
}

func (b *hclogBridge) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		b.Info(strings.TrimRight(string(p), "\n"))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ hclog.Logger = (*hclogBridge)(nil)
