// Package sim simulates CWMP (TR-069) devices: one to 100,000 CPEs in one
// process, each with its own identity, parameter tree, events, retry state,
// cookies and connection-request endpoint, talking to a real ACS over HTTP.
// It backs `provisor sim`, the load benchmark and end-to-end tests.
//
// A device's tree is the profile's factory tree plus the device's own
// changes (see tree), so idle devices cost a few hundred bytes. Devices have
// no goroutine of their own: a timer wakes them, and a bounded pool of
// workers runs their sessions.
package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

// Mode says what makes a device start a session besides its own events.
type Mode string

// Modes.
const (
	// ModeManual: sessions only for events (boot, connection requests,
	// transfers, schedules, value changes) and the periodic inform the
	// ACS may enable.
	ModeManual Mode = "manual"
	// ModePeriodic: each device informs at its periodic interval.
	ModePeriodic Mode = "periodic"
	// ModeClosed: each device starts its next session as soon as the last
	// one ended (plus Think); a closed loop.
	ModeClosed Mode = "closed"
	// ModeOpen: sessions start at a fixed rate across the fleet,
	// whatever the ACS's answer time; an open loop.
	ModeOpen Mode = "open"
)

// MaxDevices is the most devices one simulator runs.
const MaxDevices = 100_000

// Config configures a simulator. Zero fields take the defaults noted.
type Config struct {
	// ACSURL is where devices send their Informs.
	ACSURL  string
	Profile *Profile
	// Devices is how many devices to simulate (1 to MaxDevices).
	Devices int
	// First is the number of the first device (default 1); device n has
	// serial fmt.Sprintf(SerialPattern, n).
	First int
	// SerialPattern, OUI, ProductClass and Manufacturer override the
	// profile's identity when set.
	SerialPattern, OUI, ProductClass, Manufacturer string
	// Seed makes jitter, counters, addresses and tokens reproducible.
	Seed uint64
	Mode Mode
	// Interval is the factory PeriodicInformInterval (default 1h).
	Interval time.Duration
	// Jitter spreads periodic informs by ±Jitter×Interval (default 0).
	Jitter float64
	// Think is the pause between sessions in ModeClosed.
	Think time.Duration
	// Rate is sessions per second across the fleet in ModeOpen.
	Rate float64
	// Ramp spreads the devices' first boots over this long; 0 boots all
	// at once.
	Ramp time.Duration
	// NoBoot leaves devices powered off until Device.PowerOn.
	NoBoot bool
	// SessionsPerDevice stops each device after this many successful
	// sessions (0: no limit); Done is closed when all have.
	SessionsPerDevice int
	// MaxInflight bounds concurrent sessions (default min(Devices, 10000)).
	MaxInflight int
	// Timeout bounds each HTTP exchange with the ACS (default 30s, the
	// wait TR-069 asks a CPE to allow).
	Timeout time.Duration
	// RetryMin and RetryMultiplier are the factory
	// CWMPRetryMinimumWaitInterval and CWMPRetryIntervalMultiplier
	// (defaults 5s and 2.0).
	RetryMin        time.Duration
	RetryMultiplier float64
	// BootDelay is how long a reboot takes (default 1s).
	BootDelay time.Duration
	// CRDelay is the pause between accepting a connection request and
	// starting the session (default 100ms): connection requests arriving
	// in it join the same session.
	CRDelay time.Duration
	// TrafficInterval advances counters on a timer for devices with a
	// notification set on one (default 30s); counters also advance at
	// every session.
	TrafficInterval time.Duration
	// CRListen is the address of the shared connection request listener;
	// empty runs none.
	CRListen string
	// CRUsername and CRPassword are the factory connection request
	// credentials; "%s" stands for the serial number (defaults "%s" and
	// "sim").
	CRUsername, CRPassword string
	// ACSUsername and ACSPassword answer the ACS's HTTP authentication;
	// "%s" stands for the serial number, "%i" for the device ID
	// (OUI-ProductClass-Serial).
	ACSUsername, ACSPassword string
	// Quirks changes the profile's quirk switches (see Quirks.Apply).
	Quirks string
	// Insecure skips verification of the ACS's TLS certificate.
	Insecure bool
	// LoopbackOnly refuses every connection to an address that is not
	// loopback: the ACS, file servers and the listener.
	LoopbackOnly bool
	Log          *slog.Logger
	// OnFileRequest, when set, is called after each HTTP request a device
	// makes for a transfer (a download, each package a firmware
	// descriptor lists, an upload), from the transfer's goroutine; tests
	// use it to see what a device fetched and sent.
	OnFileRequest func(d *Device, r FileRequest)
}

// FileRequest is one HTTP request a device made for a transfer.
type FileRequest struct {
	Method string // GET or PUT
	URL    string
	// Status is the final HTTP status; 0 when the server was not reached.
	Status int
	// Body is what the device received (GET, capped by the transfer's
	// size limit) or sent (PUT).
	Body []byte
	// Fault is the transfer fault the request ended in, if any.
	Fault cwmp.FaultStruct
}

func (c *Config) defaults() error {
	if c.Profile == nil {
		return errors.New("no profile")
	}
	if c.Devices < 1 || c.Devices > MaxDevices {
		return fmt.Errorf("devices must be 1 to %d, not %d", MaxDevices, c.Devices)
	}
	if c.ACSURL == "" {
		return errors.New("no ACS URL")
	}
	u, err := url.Parse(c.ACSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bad ACS URL %q", c.ACSURL)
	}
	if c.First == 0 {
		c.First = 1
	}
	if c.Mode == "" {
		c.Mode = ModeManual
	}
	switch c.Mode {
	case ModeManual, ModePeriodic, ModeClosed:
	case ModeOpen:
		if c.Rate <= 0 {
			return errors.New("open loop needs a rate")
		}
	default:
		return fmt.Errorf("unknown mode %q", c.Mode)
	}
	if c.Interval <= 0 {
		c.Interval = time.Hour
	}
	if c.Interval < time.Second {
		return errors.New("interval must be at least 1s (PeriodicInformInterval counts seconds)")
	}
	if c.Jitter < 0 || c.Jitter >= 1 {
		return errors.New("jitter must be in [0, 1)")
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = min(c.Devices, 10_000)
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 5 * time.Second
	}
	if c.RetryMultiplier < 1 {
		c.RetryMultiplier = 2
	}
	if c.BootDelay <= 0 {
		c.BootDelay = time.Second
	}
	if c.CRDelay <= 0 {
		c.CRDelay = 100 * time.Millisecond
	}
	if c.TrafficInterval <= 0 {
		c.TrafficInterval = 30 * time.Second
	}
	if c.CRUsername == "" {
		c.CRUsername = "%s"
	}
	if c.CRPassword == "" {
		c.CRPassword = "sim"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.LoopbackOnly {
		if err := checkLoopbackURL(c.ACSURL); err != nil {
			return err
		}
		if c.CRListen != "" {
			if err := checkLoopbackHostPort(c.CRListen); err != nil {
				return fmt.Errorf("connection request listener: %w", err)
			}
		}
	}
	return nil
}

// Simulator runs a fleet of devices.
type Simulator struct {
	cfg    Config
	prof   *Profile
	quirks Quirks
	ident  identity
	devs   []*Device
	byPath map[string]*Device
	queue  chan *Device
	dialer *net.Dialer
	files  *http.Client
	cr     *crServer
	crBase string // "http://host:port/"
	key    []byte // for connection request nonces
	log    *slog.Logger
	stats  Stats

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	started   atomic.Bool
	stopping  atomic.Bool
	remaining atomic.Int64
	settled   atomic.Int64 // devices with at least one successful session
	done      chan struct{}
	doneOnce  sync.Once
}

type identity struct {
	manufacturer, oui, productClass string
	ouiBytes                        [3]byte
}

// New builds the devices without starting anything.
func New(cfg Config) (*Simulator, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	p := cfg.Profile
	s := &Simulator{cfg: cfg, prof: p, quirks: p.Quirks, log: cfg.Log, done: make(chan struct{})}
	if err := s.quirks.Apply(cfg.Quirks); err != nil {
		return nil, err
	}
	s.ident = identity{manufacturer: or(cfg.Manufacturer, p.Manufacturer), oui: or(cfg.OUI, p.OUI), productClass: or(cfg.ProductClass, p.ProductClass)}
	if b, ok := parseOUI(s.ident.oui); ok {
		s.ident.ouiBytes = b
	} else {
		// A locally administered prefix for an OUI that is not one.
		s.ident.ouiBytes = [3]byte{0x02, byte(cfg.Seed >> 8), byte(cfg.Seed)}
	}
	pattern := or(cfg.SerialPattern, p.SerialPattern)
	if !strings.Contains(pattern, "%") {
		return nil, fmt.Errorf("serial pattern %q has no %% verb for the device number", pattern)
	}
	k := sha256.Sum256(binary.LittleEndian.AppendUint64([]byte("provisor-sim"), cfg.Seed))
	s.key = k[:]
	s.dialer = &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	if cfg.LoopbackOnly {
		s.dialer.Control = loopbackControl
	}
	tr := &http.Transport{
		DialContext:         s.dialer.DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	s.files = &http.Client{Transport: tr, Timeout: 5 * time.Minute, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	s.devs = make([]*Device, cfg.Devices)
	s.byPath = make(map[string]*Device, cfg.Devices)
	seen := make(map[string]bool, cfg.Devices)
	for i := range s.devs {
		d := newDevice(s, i, fmt.Sprintf(pattern, cfg.First+i))
		if seen[d.serial] {
			return nil, fmt.Errorf("serial pattern %q gives %s twice", pattern, d.serial)
		}
		seen[d.serial] = true
		s.devs[i] = d
		s.byPath["/"+d.token] = d
	}
	s.queue = make(chan *Device, cfg.Devices)
	if cfg.SessionsPerDevice > 0 {
		s.remaining.Store(int64(cfg.Devices))
	}
	return s, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func parseOUI(s string) ([3]byte, bool) {
	var b [3]byte
	if len(s) != 6 {
		return b, false
	}
	for i := range 3 {
		var v byte
		for _, c := range []byte(s[2*i : 2*i+2]) {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | (c - '0')
			case c >= 'A' && c <= 'F':
				v = v<<4 | (c - 'A' + 10)
			case c >= 'a' && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			default:
				return b, false
			}
		}
		b[i] = v
	}
	return b, true
}

// Start opens the connection request listener, starts the workers and
// boots the devices. It returns once the listener accepts.
func (s *Simulator) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("simulator already started")
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	if s.cfg.CRListen != "" {
		cr, err := startCRServer(s, s.cfg.CRListen)
		if err != nil {
			s.cancel()
			return err
		}
		s.cr = cr
		s.crBase = "http://" + cr.addr + "/"
	}
	for range s.cfg.MaxInflight {
		s.wg.Add(1)
		go s.worker()
	}
	if !s.cfg.NoBoot {
		s.bootAll()
	}
	if s.cfg.Mode == ModeOpen {
		s.wg.Add(1)
		go s.openLoop()
	}
	return nil
}

// bootAll powers the devices on, spread over Ramp at deterministic
// offsets.
func (s *Simulator) bootAll() {
	for _, d := range s.devs {
		var at time.Duration
		if s.cfg.Ramp > 0 {
			r := newRNG(mix(s.cfg.Seed, d.number(), 0xb007))
			at = time.Duration(r.float() * float64(s.cfg.Ramp))
		}
		d.PowerOn(at)
	}
}

func (s *Simulator) worker() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case d := <-s.queue:
			d.runSession()
		}
	}
}

// enqueue hands a device to the workers. The queue holds every device at
// most once (its state says it is queued), so it never blocks.
func (s *Simulator) enqueue(d *Device) {
	select {
	case s.queue <- d:
	default:
		s.log.Error("session queue full", "device", d.serial)
	}
}

// openLoop starts sessions at the configured rate on idle devices, round
// robin. An arrival that finds every device busy is counted as skipped:
// the fleet is too small for the rate and the ACS's answer time.
func (s *Simulator) openLoop() {
	defer s.wg.Done()
	interval := time.Duration(float64(time.Second) / s.cfg.Rate)
	next := time.Now()
	cursor := 0
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for !next.After(now) {
			next = next.Add(interval)
			if s.stopping.Load() {
				continue
			}
			started := false
			for range len(s.devs) {
				d := s.devs[cursor]
				cursor = (cursor + 1) % len(s.devs)
				if d.arrive() {
					started = true
					break
				}
			}
			if !started && s.stats.recording(now) {
				s.stats.Skipped.Add(1)
			}
		}
		t.Reset(time.Until(next))
	}
}

// Stop stops every device and waits for the workers. Sessions in flight
// are cut off.
func (s *Simulator) Stop() {
	if !s.started.Load() {
		return
	}
	s.stopping.Store(true)
	for _, d := range s.devs {
		d.halt()
	}
	s.cancel()
	if s.cr != nil {
		s.cr.close()
	}
	s.wg.Wait()
	s.files.CloseIdleConnections()
}

// Drain stops new sessions from starting and waits up to grace for those
// in flight to finish, then stops the simulator.
func (s *Simulator) Drain(grace time.Duration) {
	s.stopping.Store(true)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && s.busy() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
}

func (s *Simulator) busy() int {
	n := 0
	for _, d := range s.devs {
		d.mu.Lock()
		if d.state == stateSession {
			n++
		}
		d.mu.Unlock()
	}
	return n
}

// Done is closed once every device has completed SessionsPerDevice
// sessions.
func (s *Simulator) Done() <-chan struct{} { return s.done }

func (s *Simulator) deviceDone() {
	if s.remaining.Add(-1) == 0 {
		s.doneOnce.Do(func() { close(s.done) })
	}
}

// Devices returns the number of devices.
func (s *Simulator) Devices() int { return len(s.devs) }

// Device returns device i (0-based).
func (s *Simulator) Device(i int) *Device { return s.devs[i] }

// Stats returns the live counters.
func (s *Simulator) Stats() *Stats { return &s.stats }

// Quirks returns the quirk switches in effect.
func (s *Simulator) Quirks() Quirks { return s.quirks }

// CRAddr is the address of the connection request listener, empty when
// there is none.
func (s *Simulator) CRAddr() string {
	if s.cr == nil {
		return ""
	}
	return s.cr.addr
}

// Live counts devices in a session now.
func (s *Simulator) Live() int { return s.busy() }

// ---- loopback guard ----

func loopbackControl(network, address string, _ syscall.RawConn) error {
	return checkLoopbackHostPort(address)
}

func checkLoopbackHostPort(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("%s is not a loopback address; refused in loopback-only mode", hostport)
	}
	return nil
}

func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	return checkLoopbackHostPort(u.Host)
}
