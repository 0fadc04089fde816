// Command provisor-plugin-minimal is the smallest useful Provisor plugin:
// on first contact (0 BOOTSTRAP) it sets the device's periodic inform
// interval to one hour. Copy it to start a plugin of your own.
package main

import (
	"context"

	"github.com/provisor/provisor/sdk"
)

const interval = "Device.ManagementServer.PeriodicInformInterval"

func bootstrap(ctx context.Context, s sdk.Session) error {
	_, err := s.SetParameterValues(ctx, "minimal-bootstrap", sdk.Uint(interval, 3600))
	return err
}

func opts() *sdk.ServeOpts {
	return &sdk.ServeOpts{
		ID:      "minimal",
		Version: "1.0.0",
		Events:  sdk.Events{sdk.EventBootstrap: bootstrap},
	}
}

func main() { sdk.Serve(opts()) }
