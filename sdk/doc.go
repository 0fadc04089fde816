// Package sdk is the toolkit for Provisor plugins: out-of-process programs
// that handle a vendor's parameters, file types, events and quirks. It is a
// Go module of its own so that a plugin depends on it alone, never on the
// ACS.
package sdk

// ProtocolMajor is the major version of the plugin wire protocol
// (provisor.plugin.v1). A host refuses a plugin of another major.
const ProtocolMajor = 1
