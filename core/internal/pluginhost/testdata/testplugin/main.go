// Command testplugin is the plugin the host's tests start: its
// configuration picks a behaviour, so one binary covers the normal path,
// crashes and hangs.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/provisor/provisor/sdk"
)

type config struct {
	// Mode is "ok", "noop" (return at once, for benchmarks), "crash-once" (exit in the middle of the first session
	// a process sees, once per Marker file) or "hang" (never return from
	// a session).
	Mode   string `json:"mode"`
	Marker string `json:"marker"`
}

var cfg config

func bootstrap(ctx context.Context, s sdk.Session) error {
	if cfg.Mode == "noop" {
		return nil
	}
	vals, err := s.GetParameterValues(ctx, "Device.DeviceInfo.SoftwareVersion")
	if err != nil {
		return err
	}
	switch cfg.Mode {
	case "crash-once":
		if _, err := os.Stat(cfg.Marker); errors.Is(err, os.ErrNotExist) {
			_ = os.WriteFile(cfg.Marker, []byte("crashed"), 0o600)
			os.Exit(3)
		}
	case "hang":
		time.Sleep(time.Hour)
	}
	if err := s.Tag(ctx, "seen-by-testplugin"); err != nil {
		return err
	}
	_, err = s.SetParameterValues(ctx, "testplugin", sdk.Value("Device.DeviceInfo.ProvisioningCode", "v="+vals[0].Value))
	return err
}

func main() {
	sdk.Serve(&sdk.ServeOpts{
		ID:      "testplugin",
		Version: "1.2.3",
		Setup: func(ctx context.Context, h sdk.Host) error {
			return h.DecodeConfig(&cfg)
		},
		Events: sdk.Events{sdk.EventInform: bootstrap},
		Functions: sdk.Functions{
			"echo": {Func: func(ctx context.Context, c *sdk.Call) (any, error) {
				var v any
				err := c.OptionalArg(0, &v)
				return v, err
			}},
			// loop makes n device calls and reports how long they took, for
			// the callback benchmark.
			"loop": {NeedsSession: true, Func: func(ctx context.Context, c *sdk.Call) (any, error) {
				var n int
				if err := c.Arg(0, &n); err != nil {
					return nil, err
				}
				start := time.Now()
				for range n {
					if _, err := c.Session.GetParameterValues(ctx, "Device.DeviceInfo.SoftwareVersion"); err != nil {
						return nil, err
					}
				}
				return time.Since(start).Nanoseconds(), nil
			}},
			"pid": {Func: func(ctx context.Context, c *sdk.Call) (any, error) { return os.Getpid(), nil }},
			// set sets one parameter, to see a device fault end a task.
			"set": {NeedsSession: true, Func: func(ctx context.Context, c *sdk.Call) (any, error) {
				var name, value string
				if err := c.Arg(0, &name); err != nil {
					return nil, err
				}
				if err := c.Arg(1, &value); err != nil {
					return nil, err
				}
				status, err := c.Session.SetParameterValues(ctx, "testplugin-set", sdk.Value(name, value))
				if err != nil {
					return nil, fmt.Errorf("set %s: %w", name, err)
				}
				return status, nil
			}},
		},
		Profiles: sdk.Profiles{{Name: "test", Manufacturer: "Testco", GPVBatchSize: 7, NumericBooleans: true}},
	})
}
