package hook

import (
	"context"

	"github.com/provisor/provisor/core/cwmp"
)

// CPECredential is a user name and password a CredentialProvider vouches
// for. The password is plain text because Digest needs it (or its HA1) to
// verify; the server never logs it.
type CPECredential struct {
	Username string
	Password string
}

// CredentialQuery says who is authenticating.
type CredentialQuery struct {
	// Username is the user name the CPE sent.
	Username string
	// DeviceID is the store ID of the device the request is for, and
	// Device its identity from the session's Inform.
	DeviceID string
	Device   cwmp.DeviceID
	// RemoteIP is the CPE's address, after trusted-proxy handling.
	RemoteIP string
}

// CredentialProvider supplies CPE credentials that live outside the store:
// a vendor plugin's derivation from the serial number, a script, an
// external directory. The server asks providers after the store (devices
// with a stored credential never reach them) and before the shared
// bootstrap credential. The first provider that reports found decides:
// its credential is then the device's own, and the shared credential is
// refused for that device. A handler registered in the hook registry that
// also implements CredentialProvider is consulted in registration order.
//
// CPECredential runs on the HTTP request's goroutine before any session
// exists, for every authentication of the devices it answers for, so it
// must be fast and must not call the device. An error refuses the request
// with 503 (the CPE retries later); it does not count as a failed login.
type CredentialProvider interface {
	CPECredential(ctx context.Context, q CredentialQuery) (cred CPECredential, found bool, err error)
}
