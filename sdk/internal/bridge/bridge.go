// Package bridge lets sdktest build the SDK's plugin server without the
// SDK exporting a constructor that only a test harness needs.
package bridge

import (
	"log/slog"

	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
)

// NewServer is set by package sdk's init: it makes the plugin server for
// opts (a *sdk.ServeOpts) that calls the host through host.
var NewServer func(opts any, log *slog.Logger, host pluginv1.HostClient) (pluginv1.PluginServer, error)
