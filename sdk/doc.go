// Package sdk is the toolkit for Provisor plugins: out-of-process programs
// that handle a vendor's parameters, file types, events and quirks. It is a
// Go module of its own so that a plugin depends on it alone, never on the
// ACS.
//
// A plugin is a main package that calls Serve once:
//
//	func main() {
//		sdk.Serve(&sdk.ServeOpts{
//			ID:      "acme",
//			Version: "1.0.0",
//			Events: sdk.Events{
//				sdk.EventBootstrap: func(ctx context.Context, s sdk.Session) error {
//					_, err := s.SetParameterValues(ctx, "", sdk.Uint("Device.ManagementServer.PeriodicInformInterval", 3600))
//					return err
//				},
//			},
//		})
//	}
//
// A plugin offers a capability by setting the matching ServeOpts field: an
// EventHandler for Inform events, a FunctionHandler for functions scripts
// call through require("provisor/x/<id>"), a CredentialProvider, a
// FileTypeHandler for vendor file types, a ProfileProvider for device
// quirks. The host learns what the plugin offers when it starts it, so
// a plugin built against an older SDK keeps working with a newer host.
//
// Inside a handler, Session is the live CWMP session: each method is one
// RPC on the device and blocks until the device answers, exactly as the
// JavaScript API does. Host gives the plugin a logger, its own per-device
// data and the ACS's file store. The sdktest package runs a plugin
// in-process against a simulated device.
//
// The wire protocol underneath is provisor.plugin.v1 (see proto/); plugin
// authors never need to touch it.
package sdk

// ProtocolMajor is the major version of the plugin wire protocol
// (provisor.plugin.v1). A host refuses a plugin of another major.
const ProtocolMajor = 1

// Version is the version of this SDK, reported to the host at start.
const Version = "0.1.0"

// The go-plugin handshake values. They are not secrets: they only keep a
// plugin binary from being run as an ordinary program by mistake, and the
// host from starting an executable that is no Provisor plugin.
const (
	MagicCookieKey   = "PROVISOR_PLUGIN"
	MagicCookieValue = "7c1f0e0a-provisor-plugin"
	// PluginName is the name the plugin is served under in go-plugin's
	// plugin set.
	PluginName = "provisor"
)
