// Command v2plugin pretends to speak a future major version of
// provisor.plugin: the host must refuse it with a clear message.
package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"github.com/provisor/provisor/sdk"
	"google.golang.org/grpc"
)

type future struct{ plugin.NetRPCUnsupportedPlugin }

func (future) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (future) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("no client")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: sdk.ProtocolMajor + 1, MagicCookieKey: sdk.MagicCookieKey, MagicCookieValue: sdk.MagicCookieValue},
		Plugins:         plugin.PluginSet{sdk.PluginName: future{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
