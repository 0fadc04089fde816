package sim

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

// crServer is the one listener that serves every device's connection
// request URL, http://<addr>/<token>. A CPE answers a connection request
// at once and starts its session afterwards, with "6 CONNECTION REQUEST".
type crServer struct {
	sim  *Simulator
	srv  *http.Server
	ln   net.Listener
	addr string
	auth *digestServer
}

func startCRServer(s *Simulator, addr string) (*crServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	cr := &crServer{sim: s, ln: ln, addr: ln.Addr().String()}
	realm := s.prof.CRRealm
	if realm == "" {
		realm = "provisor-sim"
	}
	cr.auth = &digestServer{realm: realm, key: s.key, lifetime: 5 * time.Minute, now: time.Now}
	cr.srv = &http.Server{
		Handler:           cr,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       10 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	go func() {
		if err := cr.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("connection request listener", "err", err)
		}
	}()
	return cr, nil
}

func (cr *crServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = cr.srv.Shutdown(ctx)
}

func (cr *crServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := cr.sim.byPath[r.URL.Path]
	if d == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	d.mu.Lock()
	user := d.raw(d.t.p.Root + "ManagementServer.ConnectionRequestUsername")
	pass := d.raw(d.t.p.Root + "ManagementServer.ConnectionRequestPassword")
	state := d.state
	d.mu.Unlock()
	if state == stateOff {
		// A device that is down does not answer at all.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	// A device never given credentials takes any request, as CPEs with an
	// empty ConnectionRequestUsername do.
	ds := cr.auth
	if user != "" || pass != "" {
		ok, stale := ds.check(r, user, pass)
		if !ok {
			w.Header().Set("WWW-Authenticate", ds.challenge(stale))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	switch d.connectionRequest() {
	case crAccepted:
		cr.sim.stats.CRs.Add(1)
		w.WriteHeader(http.StatusOK)
	case crBusy:
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

type crOutcome uint8

const (
	crAccepted crOutcome = iota
	crBusy
)

// connectionRequest accepts a connection request. Requests before the
// session starts join it; one during a session is refused, as TR-069 asks
// of a CPE that will not interrupt the session it is in.
func (d *Device) connectionRequest() crOutcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state {
	case stateSession, stateDone:
		return crBusy
	case stateCR, stateQueued:
		d.addEvent(cwmp.EventConnectionRequest, "")
		return crAccepted
	}
	d.addEvent(cwmp.EventConnectionRequest, "")
	if d.state == stateIdle {
		d.state = stateCR
		d.arm(d.sim.cfg.CRDelay, func(d *Device) { d.wantSession() })
	}
	return crAccepted
}
