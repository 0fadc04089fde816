package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"slices"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/provisor/provisor/sdk/internal/bridge"
	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
	"google.golang.org/grpc"
)

// ServeOpts describes a plugin: its identity and the handlers of the
// capabilities it offers. Leave a handler nil to not offer it.
type ServeOpts struct {
	// ID names the plugin: lower case letters, digits and dashes. Scripts
	// reach its functions as require("provisor/x/<ID>"); it must match
	// the manifest's id.
	ID string
	// Version is the plugin's own version.
	Version string
	// Setup runs once, when the host first talks to the plugin, before
	// any other call: the place to read configuration and keep the Host.
	// An error stops the plugin from being used, with the error shown.
	Setup func(ctx context.Context, h Host) error

	Events      EventHandler
	CPERequests CPERequestHandler
	Functions   FunctionHandler
	Credentials CredentialProvider
	FileTypes   FileTypeHandler
	Profiles    ProfileProvider
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (o *ServeOpts) validate() error {
	if o.ID == "" {
		return errNoID
	}
	if !idPattern.MatchString(o.ID) {
		return fmt.Errorf("sdk: plugin id %q: use lower case letters, digits and dashes", o.ID)
	}
	return nil
}

// Serve runs the plugin until the host stops it. It must be called from
// main; it does not return. Started by hand rather than by the ACS, the
// binary says so and exits.
func Serve(opts *ServeOpts) {
	if err := opts.validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  ProtocolMajor,
			MagicCookieKey:   MagicCookieKey,
			MagicCookieValue: MagicCookieValue,
		},
		Plugins:    plugin.PluginSet{PluginName: &grpcPlugin{opts: opts}},
		GRPCServer: newGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: opts.ID, Level: hclog.Info, Output: os.Stderr, JSONFormat: true,
		}),
	})
	os.Exit(0)
}

// newGRPCServer is go-plugin's server with a few stream workers: a call
// runs on a goroutine that is already there, with a stack already grown
// to a handler's depth, instead of on a new goroutine that grows its
// stack, copying it, on every call. Calls beyond the workers get a
// goroutine of their own, as without them.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(slices.Clip(opts), grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))))...)
}

// grpcPlugin is the go-plugin glue on the plugin's side.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	opts *ServeOpts
}

func (p *grpcPlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	dial := func(id uint32) (pluginv1.HostClient, error) {
		conn, err := b.Dial(id)
		if err != nil {
			return nil, err
		}
		return pluginv1.NewHostClient(conn), nil
	}
	pluginv1.RegisterPluginServer(s, newServer(p.opts, newLogger(os.Stderr, p.opts.ID), dial))
	return nil
}

func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: the plugin side has no client")
}

// The test harness reaches the server through the bridge, so that the
// public API does not grow a constructor only tests need.
func init() {
	bridge.NewServer = func(opts any, log *slog.Logger, host pluginv1.HostClient) (pluginv1.PluginServer, error) {
		o, ok := opts.(*ServeOpts)
		if !ok {
			return nil, fmt.Errorf("sdk: want *sdk.ServeOpts, not %T", opts)
		}
		if err := o.validate(); err != nil {
			return nil, err
		}
		if log == nil {
			log = newLogger(os.Stderr, o.ID)
		}
		return newServer(o, log, func(uint32) (pluginv1.HostClient, error) { return host, nil }), nil
	}
}
