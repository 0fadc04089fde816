package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/server"
	"github.com/provisor/provisor/core/internal/server/authtest"
)

// A device that has its own credential comes back from a factory reset
// with the shared one and "0 BOOTSTRAP". auth.rebootstrap refuses it (the
// default) or admits it and rotates again; nothing else changes how the
// shared credential is judged for such a device. The CPE does real Digest
// against a real listener, with the rotation handler in place.
func TestRebootstrapPolicy(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		policy   string // "" is the default
		events   []cwmp.EventCode
		password string // the shared password the CPE sends; "" is the right one
		admitted bool
		counter  func(s *server.AuthStats) int64
	}{
		{"default refuses a factory-reset device", "", []cwmp.EventCode{cwmp.EventBootstrap, cwmp.EventBoot}, "", false,
			func(s *server.AuthStats) int64 { return s.RebootstrapRefused.Load() }},
		{"refuse", server.RebootstrapRefuse, []cwmp.EventCode{cwmp.EventBootstrap, cwmp.EventBoot}, "", false,
			func(s *server.AuthStats) int64 { return s.RebootstrapRefused.Load() }},
		{"refuse, without 0 BOOTSTRAP", server.RebootstrapRefuse, []cwmp.EventCode{cwmp.EventBoot}, "", false,
			func(s *server.AuthStats) int64 { return s.SharedRefused.Load() }},
		{"refuse, wrong shared password", server.RebootstrapRefuse, []cwmp.EventCode{cwmp.EventBootstrap}, "guess", false,
			func(s *server.AuthStats) int64 { return s.WrongPassword.Load() }},
		{"accept", server.RebootstrapAccept, []cwmp.EventCode{cwmp.EventBootstrap, cwmp.EventBoot}, "", true,
			func(s *server.AuthStats) int64 { return s.RebootstrapAccepted.Load() }},
		{"accept, without 0 BOOTSTRAP", server.RebootstrapAccept, []cwmp.EventCode{cwmp.EventPeriodic}, "", false,
			func(s *server.AuthStats) int64 { return s.SharedRefused.Load() }},
		{"accept, wrong shared password", server.RebootstrapAccept, []cwmp.EventCode{cwmp.EventBootstrap}, "guess", false,
			func(s *server.AuthStats) int64 { return s.WrongPassword.Load() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := startSecure(t, secureOpts{rotate: true, auth: server.AuthConfig{Rebootstrap: c.policy}})
			st := &a.auth.Stats
			cpe := newTestCPE(t, a.urls["http"], "SN-RESET")
			id := deviceID("SN-RESET")
			cpe.session(cwmp.EventBootstrap, cwmp.EventBoot) // rotated to its own credential
			oldPassword := cpe.params["Device.ManagementServer.Password"].Text
			before, err := a.store.Device(ctx, id)
			if err != nil || oldPassword == "" {
				t.Fatalf("first bootstrap: %+v %v", before, err)
			}

			// Factory reset: the device forgets its credential.
			cpe.params["Device.ManagementServer.Username"] = cwmp.String("")
			cpe.params["Device.ManagementServer.Password"] = cwmp.String("")
			if c.password != "" {
				cpe.auth = &authtest.Credentials{Username: sharedUser, Password: c.password}
			}
			time.Sleep(5 * time.Millisecond) // a later LastInform, were the Inform stored
			baseline := c.counter(st)
			if !c.admitted {
				if status, _ := cpe.post(cpe.inform(c.events...)); status != http.StatusUnauthorized {
					t.Fatalf("Inform answered %d, want 401", status)
				}
				if got := c.counter(st) - baseline; got != 1 {
					t.Fatalf("counter grew by %d, want 1", got)
				}
				// Refused before it had any effect: the device, its
				// credential and the old password are as they were.
				after, _ := a.store.Device(ctx, id)
				if !after.LastInform.Equal(before.LastInform) || !after.LastBootstrap.Equal(before.LastBootstrap) {
					t.Fatalf("refused Inform changed the device: %v -> %v", before.LastInform, after.LastInform)
				}
				creds, err := a.store.DeviceCredentials(ctx, id)
				if err != nil || len(creds) != 1 || creds[0].Pending || !creds[0].VerifyPassword(oldPassword) {
					t.Fatalf("credential after refusal: %v %v", creds, err)
				}
				return
			}
			calls := cpe.session(c.events...)
			if len(calls) == 0 || calls[0] != "SetParameterValues" {
				t.Fatalf("re-bootstrap session called %v, want the rotation first", calls)
			}
			if got := c.counter(st) - baseline; got != 1 {
				t.Fatalf("counter grew by %d, want 1", got)
			}
			newPassword := cpe.params["Device.ManagementServer.Password"].Text
			creds, err := a.store.DeviceCredentials(ctx, id)
			if err != nil || len(creds) != 1 || creds[0].Pending || !creds[0].VerifyPassword(newPassword) || newPassword == oldPassword {
				t.Fatalf("credential after re-bootstrap: %v %v", creds, err)
			}
			// The new credential works, and the shared one is refused
			// again outside a bootstrap.
			if calls := cpe.session(cwmp.EventPeriodic); len(calls) != 0 {
				t.Fatalf("periodic session called %v", calls)
			}
			cpe.params["Device.ManagementServer.Username"] = cwmp.String("")
			if status, _ := cpe.post(cpe.inform(cwmp.EventPeriodic)); status != http.StatusUnauthorized {
				t.Fatalf("shared credential after the new rotation: %d", status)
			}
		})
	}
}

// A device that applies new credentials only after its session keeps
// answering with the shared one for the rest of its re-bootstrap session.
func TestRebootstrapAcceptedSessionFinishesWithShared(t *testing.T) {
	a := startSecure(t, secureOpts{rotate: true, auth: server.AuthConfig{Rebootstrap: server.RebootstrapAccept}})
	cpe := newTestCPE(t, a.urls["http"], "SN-LATE")
	cpe.sessionCreds, cpe.unbound = true, true
	cpe.session(cwmp.EventBootstrap, cwmp.EventBoot)
	cpe.params["Device.ManagementServer.Username"] = cwmp.String("")
	cpe.params["Device.ManagementServer.Password"] = cwmp.String("")
	if calls := cpe.session(cwmp.EventBootstrap, cwmp.EventBoot); len(calls) == 0 || calls[0] != "SetParameterValues" {
		t.Fatalf("calls %v", calls)
	}
	cpe.sessionCreds, cpe.unbound = false, false
	if calls := cpe.session(cwmp.EventPeriodic); len(calls) != 0 {
		t.Fatalf("periodic session called %v", calls)
	}
}

func TestRebootstrapPolicyChecked(t *testing.T) {
	if _, err := server.NewAuth(server.AuthConfig{Rebootstrap: "sometimes"}); err == nil {
		t.Fatal("unknown policy accepted")
	}
}
