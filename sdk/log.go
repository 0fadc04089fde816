package sdk

import (
	"io"
	"log/slog"
	"strings"
)

// newLogger writes JSON lines in the shape go-plugin's host side parses
// ("@level", "@message", "@timestamp"), so that each line reaches the
// ACS's log at its own level with its attributes, and costs no RPC.
func newLogger(w io.Writer, pluginID string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				return slog.String("@level", strings.ToLower(a.Value.String()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
	l := slog.New(h)
	if pluginID != "" {
		l = l.With("plugin", pluginID)
	}
	return l
}
