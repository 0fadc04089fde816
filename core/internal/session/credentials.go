package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/core/internal/store"
)

// RotateCredential replaces the shared bootstrap credential with one of
// the device's own: in a session that opened with "0 BOOTSTRAP" and
// authenticated with the shared credential, it sets a generated user name
// and password with one SetParameterValues. From then on the device must
// use its own credential; the shared one is refused for it.
//
// The new credential is stored, pending, before the device hears of it,
// and activated once the device acknowledges the SetParameterValues. A
// device that stored it but whose acknowledgement was lost can therefore
// still authenticate, and its first use activates it; a device that
// refused it keeps the shared one.
type RotateCredential struct {
	Store store.CredentialStore
	// Realm is the Digest realm the hashes are computed for.
	Realm string
}

// Name implements hook.Handler.
func (*RotateCredential) Name() string { return "credential-rotation" }

// Run implements hook.Handler.
func (h *RotateCredential) Run(ctx context.Context, s hook.Session) error {
	if !s.HasEvent(cwmp.EventBootstrap) {
		return nil
	}
	a, ok := s.(interface{ Auth() AuthInfo })
	if !ok || !a.Auth().Shared {
		return nil
	}
	dev, log := s.Device(), s.Logger()
	// TR-069's recommended user name is OUI-ProductClass-SerialNumber,
	// which is exactly the device ID. The password is random, so its Basic
	// hash needs no key stretching (see store.GenerateCPECredential).
	username := dev.ID
	cred, password, err := store.GenerateCPECredential(dev.ID, username, h.Realm)
	if err != nil {
		return fmt.Errorf("credential rotation: %w", err)
	}
	cred.Pending = true
	// Store writes must land even when the session's context is ending.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWriteTimeout)
	defer cancel()
	if err := h.Store.PutCPECredential(wctx, cred); err != nil {
		return fmt.Errorf("credential rotation: storing the new credential: %w", err)
	}
	if !a.Auth().TLS {
		log.Info("sending the device its own credential over plain HTTP; use HTTPS to keep it from eavesdroppers")
	}
	// Keep the device's ParameterKey: scripts may use it to track what
	// configuration the device has, and a credential change is not one.
	key := ""
	if p, ok, err := s.Value(ctx, dev.Root+"ManagementServer.ParameterKey"); err == nil && ok {
		key = p.Value
	}
	_, err = hook.Do[*cwmp.SetParameterValuesResponse](ctx, s, &cwmp.SetParameterValues{
		ParameterList: []cwmp.ParameterValue{
			{Name: dev.Root + "ManagementServer.Username", Value: cwmp.String(username)},
			{Name: dev.Root + "ManagementServer.Password", Value: cwmp.String(password)},
		},
		ParameterKey: key,
	})
	var f *cwmp.Fault
	switch {
	case err == nil:
		// Status 0 and 1 both mean the device committed the values.
		if err := h.Store.ActivateCPECredential(wctx, username); err != nil {
			// Still pending, so still accepted; its first use activates it.
			return fmt.Errorf("credential rotation: activating: %w", err)
		}
		log.Info("device has its own credential now; the shared credential is refused for it", "username", username)
		return nil
	case errors.As(err, &f):
		if derr := h.Store.DeleteCPECredential(wctx, username); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			log.Warn("credential rotation: dropping the refused credential failed", "err", derr)
		}
		return fmt.Errorf("credential rotation: the device refused its new credential and keeps the shared one: %w", err)
	default:
		// Whether the device stored the credential is unknown: both stay
		// valid until it uses one of them.
		return fmt.Errorf("credential rotation: %w", err)
	}
}

var _ hook.Handler = (*RotateCredential)(nil)
