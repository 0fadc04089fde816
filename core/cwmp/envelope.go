package cwmp

// Envelope is one SOAP message: header elements and at most one RPC.
type Envelope struct {
	// Namespace is the CWMP namespace URN the message uses. A reply goes out
	// in the namespace of the device's Inform. Empty when the message named
	// none (a bare Fault, say); writers then use NS10.
	Namespace string
	Header    Header
	// Body is the RPC, response or Fault; nil for an envelope with an empty
	// Body.
	Body Body
}

// Header holds the CWMP SOAP header elements. Pointer fields are absent
// when nil.
type Header struct {
	// ID correlates a request with its response. Devices often omit it.
	ID    string
	HasID bool
	// IDMustUnderstand records the mustUnderstand flag as received, in
	// whatever namespace the device put it; writers always send "1".
	IDMustUnderstand bool
	HoldRequests     *bool
	// NoMoreRequests is deprecated and in no schema; it is read and ignored.
	NoMoreRequests *bool
	// SessionTimeout (CWMP 1.3) in seconds.
	SessionTimeout *uint32
	// SupportedCWMPVersions (1.4) as sent, e.g. "1.0,1.1,1.2,1.3,1.4".
	SupportedCWMPVersions string
	// UseCWMPVersion (1.4) as sent, e.g. "1.4".
	UseCWMPVersion string
}

// Body is an RPC request, an RPC response or a Fault.
type Body interface {
	// Method is the element name of the body, e.g. "Inform" or
	// "GetParameterValuesResponse".
	Method() string
}

// Unknown is a body whose method this package does not know, such as a
// vendor RPC ("X_0012AB_Foo"). Only its name and namespace are kept; the
// ACS answers it with fault 8000.
type Unknown struct {
	Name      string
	Namespace string
}

// Method implements Body.
func (u *Unknown) Method() string { return u.Name }

// Version picks the protocol version an envelope speaks: UseCWMPVersion if
// given, then the highest common SupportedCWMPVersions, then SessionTimeout
// (1.3), then the namespace.
func (e *Envelope) Version() Version {
	if v, ok := ParseVersion(e.Header.UseCWMPVersion); ok {
		return v
	}
	if e.Header.SupportedCWMPVersions != "" {
		if v, ok := Negotiate(ParseVersionList(e.Header.SupportedCWMPVersions)); ok {
			return v
		}
	}
	v, ok := VersionOfNamespace(e.Namespace)
	if !ok {
		v = V10
	}
	if e.Header.SessionTimeout != nil && v == V12 {
		v = V13
	}
	return v
}
