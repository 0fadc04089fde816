package sim

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/soap"
)

type devState uint8

const (
	stateOff     devState = iota // not booted, or rebooting
	stateIdle                    // up, nothing to say
	stateCR                      // a connection request was accepted; the session starts shortly
	stateQueued                  // waiting for a worker
	stateSession                 // in a session
	stateDone                    // finished its SessionsPerDevice, or halted
)

// Device is one simulated CPE. Its methods are safe for concurrent use.
type Device struct {
	sim    *Simulator
	index  int
	serial string
	token  string // connection request path

	mu    sync.Mutex
	t     tree
	state devState
	rng   rng
	// bootAt is when the device last booted.
	bootAt       time.Time
	bootstrapped bool
	// pending are events not yet delivered in an Inform. Events that
	// belong to a completion message (7 TRANSFER COMPLETE, M Download, 11
	// DU STATE CHANGE COMPLETE …) are not kept here but derived from
	// tcOut and duOut, since they live exactly as long as the message.
	pending []cwmp.EventStruct
	// changed are parameters with notification on whose value the device
	// changed since the last Inform; activeChange is set when one of them
	// has active notification.
	changed      []string
	activeChange bool
	tcOut        []completion
	duOut        []cwmp.DUStateChangeComplete
	transfers    []*transfer
	timers       []*time.Timer // ScheduleInform and delayed transfers
	retries      uint32
	nextPeriodic time.Time // the grid point of the next periodic inform
	ticks        uint64
	traffic      *time.Timer
	timer        *time.Timer
	timerGen     uint64
	again        bool   // a reason for another session arrived during this one
	rebootAfter  bool   // reboot once the current session ends
	bootstrapAft bool   // with BOOTSTRAP (a configuration overwrite)
	newVersion   string // installed by that reboot
	msgID        uint64
	okSessions   int
	history      []SessionResult
	ended        chan struct{} // closed and replaced at the end of every session
}

// completion is a TransferComplete waiting for its response, with the
// method event it reports.
type completion struct {
	tc     cwmp.TransferComplete
	method cwmp.EventCode
}

// SessionResult describes one session of a device.
type SessionResult struct {
	Start, End time.Time
	Events     []string
	RetryCount uint32
	// Calls are the RPCs the ACS sent, in order.
	Calls []string
	Err   error
	Kind  ErrorKind
	// Abandoned is set when the device left the session on purpose.
	Abandoned bool
	seq       int
}

// historyLen is how many SessionResults a device keeps: enough for tests
// and tools to look back, little enough for 100,000 devices.
const historyLen = 4

func newDevice(s *Simulator, index int, serial string) *Device {
	d := &Device{sim: s, index: index, serial: serial, t: tree{p: s.prof}, ended: make(chan struct{})}
	// Everything random about a device derives from the seed and its
	// number, so a serial number means the same device whatever --first.
	n := d.number()
	d.rng = newRNG(mix(s.cfg.Seed, n, 0xd1ce))
	if s.prof.RandomCRPath {
		var b [20]byte
		for i := 0; i < 20; i += 8 {
			v := mix(s.cfg.Seed, n, 0x70ce, uint64(i))
			for j := 0; j < 8 && i+j < 20; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		d.token = hex.EncodeToString(b[:])
	} else {
		d.token = serial
	}
	return d
}

// number is the device number its serial is made from.
func (d *Device) number() uint64 { return uint64(d.sim.cfg.First + d.index) }

// Serial is the device's serial number.
func (d *Device) Serial() string { return d.serial }

// Identity is the DeviceId the device sends.
func (d *Device) Identity() cwmp.DeviceID {
	id := d.sim.ident
	return cwmp.DeviceID{Manufacturer: id.manufacturer, OUI: id.oui, ProductClass: id.productClass, SerialNumber: d.serial}
}

// ConnectionRequestURL is where the device listens for connection
// requests, empty without a listener.
func (d *Device) ConnectionRequestURL() string {
	if d.sim.crBase == "" {
		return ""
	}
	return d.sim.crBase + d.token
}

// Get reads a parameter as the ACS would see it (passwords read empty).
func (d *Device) Get(name string) (cwmp.Value, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.t.get(name)
	if !ok || e.kind != kindParam {
		return cwmp.Value{}, false
	}
	return d.wireValue(e), true
}

// Has reports whether a parameter or object exists.
func (d *Device) Has(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.t.get(name)
	return ok
}

// Notification is the effective notification attribute of a parameter.
func (d *Device) Notification(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.t.get(name)
	if !ok {
		return 0
	}
	return int(d.t.notification(e))
}

// SetLocal changes a parameter the way the device's own user or firmware
// would: not through the ACS, so notification applies.
func (d *Device) SetLocal(name, value string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.t.get(name)
	if !ok || e.kind != kindParam {
		return fmt.Errorf("no parameter %s", name)
	}
	d.t.set(name, value)
	d.noteChange(e)
	return nil
}

// Tick advances the device's counters and gauges as if traffic had
// flowed, raising value changes for those with notification on.
func (d *Device) Tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tick()
}

// Sessions returns the device's most recent sessions, oldest first.
func (d *Device) Sessions() []SessionResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.history)
}

// Completed is the number of successful sessions since the device was
// created.
func (d *Device) Completed() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.okSessions
}

// WaitSessions waits until the device has had n sessions in all (ok or
// not) and returns the last.
func (d *Device) WaitSessions(ctx context.Context, n int) (SessionResult, error) {
	for {
		d.mu.Lock()
		total := d.totalSessions()
		ch := d.ended
		var last SessionResult
		if len(d.history) > 0 {
			last = d.history[len(d.history)-1]
		}
		d.mu.Unlock()
		if total >= n {
			return last, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return last, fmt.Errorf("device %s: %d of %d sessions: %w", d.serial, total, n, ctx.Err())
		}
	}
}

// Busy reports whether the device is in a session or about to start one.
func (d *Device) Busy() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state == stateSession || d.state == stateQueued || d.state == stateCR
}

// SessionCount is the number of sessions the device has had, ok or not.
func (d *Device) SessionCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.totalSessions()
}

func (d *Device) totalSessions() int {
	if len(d.history) == 0 {
		return 0
	}
	return d.history[len(d.history)-1].seq
}

// Kick makes the device start a session now, with the given events (none:
// a session to deliver what is pending, or 6 CONNECTION REQUEST when
// nothing is).
func (d *Device) Kick(events ...cwmp.EventCode) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ev := range events {
		d.addEvent(ev, "")
	}
	if len(events) == 0 && !d.hasWork() {
		d.addEvent(cwmp.EventConnectionRequest, "")
	}
	d.wantSession()
}

// PowerOn boots the device after delay: its first boot sends
// 0 BOOTSTRAP and 1 BOOT.
func (d *Device) PowerOn(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != stateOff {
		return
	}
	d.arm(delay, (*Device).boot)
}

// halt stops the device's timers for good.
func (d *Device) halt() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timerGen++
	if d.timer != nil {
		d.timer.Stop()
	}
	if d.traffic != nil {
		d.traffic.Stop()
	}
	for _, t := range d.timers {
		t.Stop()
	}
	if d.state != stateSession {
		d.state = stateDone
	}
}

// ---- scheduling (d.mu held) ----

// arm sets the device's one wake-up timer, replacing any earlier one.
func (d *Device) arm(after time.Duration, fn func(*Device)) {
	d.timerGen++
	gen := d.timerGen
	if d.timer != nil {
		d.timer.Stop()
	}
	d.timer = time.AfterFunc(after, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.timerGen != gen || d.sim.stopping.Load() {
			return
		}
		fn(d)
	})
}

func (d *Device) disarm() {
	d.timerGen++
	if d.timer != nil {
		d.timer.Stop()
	}
}

// wantSession makes the device start a session as soon as it can.
func (d *Device) wantSession() {
	if d.sim.stopping.Load() {
		return
	}
	switch d.state {
	case stateIdle, stateCR:
		d.disarm()
		d.state = stateQueued
		d.sim.enqueue(d)
	case stateSession:
		d.again = true
	}
}

// arrive is an open-loop arrival: a periodic session if the device is
// idle. It reports whether the device took it.
func (d *Device) arrive() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != stateIdle {
		return false
	}
	d.addEvent(cwmp.EventPeriodic, "")
	d.wantSession()
	return true
}

func (d *Device) boot() {
	d.state = stateIdle
	d.bootAt = time.Now()
	if !d.bootstrapped {
		d.addEvent(cwmp.EventBootstrap, "")
	}
	d.addEvent(cwmp.EventBoot, "")
	d.wantSession()
}

// reboot takes the device down. Events that do not survive a reboot are
// dropped; the device comes back after BootDelay with 1 BOOT and extra.
func (d *Device) reboot(extra ...cwmp.EventStruct) {
	d.state = stateOff
	d.pending = slices.DeleteFunc(d.pending, func(e cwmp.EventStruct) bool {
		return cwmp.RetentionOf(e.EventCode) != cwmp.RetainUntilDelivered
	})
	d.changed, d.activeChange = nil, false
	d.retries = 0
	if d.traffic != nil {
		d.traffic.Stop()
		d.traffic = nil
	}
	d.arm(d.sim.cfg.BootDelay, func(d *Device) {
		for _, e := range extra {
			d.addEvent(e.EventCode, e.CommandKey)
		}
		d.boot()
	})
}

// factoryReset returns the device to its profile: every setting, every
// queued event, transfer and schedule is gone, and it bootstraps again.
func (d *Device) factoryReset() {
	d.t.reset()
	d.bootstrapped = false
	d.pending = nil
	d.tcOut, d.duOut, d.transfers = nil, nil, nil
	for _, t := range d.timers {
		t.Stop()
	}
	d.timers = nil

	d.reboot()
}

// scheduleNext sets the timer for the device's next session when it has
// nothing to say now.
func (d *Device) scheduleNext() {
	if d.state != stateIdle {
		return
	}
	cfg := &d.sim.cfg
	switch cfg.Mode {
	case ModeClosed:
		if cfg.Think <= 0 {
			d.addEvent(cwmp.EventPeriodic, "")
			d.wantSession()
			return
		}
		d.arm(cfg.Think, periodicFire)
		return
	case ModeOpen:
		return
	}
	// Periodic and manual modes follow the device's own settings, which
	// the ACS may have changed.
	if !d.periodicEnabled() {
		return
	}
	// Informs keep to their schedule rather than drifting by each
	// session's length, so a fleet's rate is what its intervals say.
	// The jitter moves each inform around a grid of whole intervals.
	iv := d.periodicInterval()
	now := time.Now()
	grid := d.nextPeriodic
	if grid.IsZero() || now.Sub(grid) > iv {
		grid = now
	}
	d.nextPeriodic = grid.Add(iv)
	at := d.nextPeriodic
	if cfg.Jitter > 0 {
		at = at.Add(time.Duration(float64(iv) * cfg.Jitter * (2*d.rng.float() - 1)))
	}
	d.arm(max(at.Sub(now), 0), periodicFire)
}

func periodicFire(d *Device) {
	d.addEvent(cwmp.EventPeriodic, "")
	d.wantSession()
}

func (d *Device) periodicEnabled() bool {
	b, err := cwmp.ParseBool(d.raw(d.t.p.Root + "ManagementServer.PeriodicInformEnable"))
	return err == nil && b
}

func (d *Device) periodicInterval() time.Duration {
	n, err := strconv.ParseUint(d.raw(d.t.p.Root+"ManagementServer.PeriodicInformInterval"), 10, 32)
	if err != nil || n == 0 {
		return d.sim.cfg.Interval
	}
	return time.Duration(n) * time.Second
}

// retryWait is TR-069's session retry wait: a random time in
// [m·k^(n−1), m·k^n] for the n-th retry, n capped at 10, where m and k are
// the device's CWMPRetryMinimumWaitInterval and multiplier.
func (d *Device) retryWait() time.Duration {
	ms := d.t.p.Root + "ManagementServer."
	m, k := d.sim.cfg.RetryMin, d.sim.cfg.RetryMultiplier
	// The factory values come from the configuration, which may be finer
	// than the parameters' whole seconds; a value the ACS set wins.
	if v, ok := d.t.vals[ms+"CWMPRetryMinimumWaitInterval"]; ok {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil && n > 0 {
			m = time.Duration(n) * time.Second
		}
	}
	if v, ok := d.t.vals[ms+"CWMPRetryIntervalMultiplier"]; ok {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil && n >= 1000 {
			k = float64(n) / 1000
		}
	}
	n := min(int(d.retries), 10)
	lo := float64(m)
	for range n - 1 {
		lo *= k
	}
	return time.Duration(lo + d.rng.float()*(lo*k-lo))
}

// ---- events (d.mu held) ----

func (d *Device) addEvent(code cwmp.EventCode, key string) {
	info := cwmp.ParseEvent(string(code))
	for _, e := range d.pending {
		if e.EventCode != code {
			continue
		}
		// Single events are kept once; method events once per command key.
		if info.Kind != cwmp.EventMethod || e.CommandKey == key {
			return
		}
	}
	d.pending = append(d.pending, cwmp.EventStruct{EventCode: code, CommandKey: key})
}

func (d *Device) hasWork() bool {
	return len(d.pending) > 0 || len(d.tcOut) > 0 || len(d.duOut) > 0 || d.activeChange
}

// noteChange records a change the ACS did not make.
func (d *Device) noteChange(e *entry) {
	n := d.t.notification(e)
	if n == 0 {
		return
	}
	if !slices.Contains(d.changed, e.name) {
		d.changed = append(d.changed, e.name)
	}
	if n >= 2 {
		d.activeChange = true
		if d.state != stateOff {
			d.wantSession()
		}
	}
}

// tick advances the traffic clock. Counters and gauges are functions of
// it, so only parameters with notification on need looking at.
func (d *Device) tick() {
	d.ticks++
	for name, a := range d.t.attrs {
		if a.notification == 0 {
			continue
		}
		if e, ok := d.t.get(name); ok && e.is(flagDynamic) {
			d.noteChange(e)
		}
	}
}

// armTraffic runs the traffic clock on a timer while some changing
// parameter has notification on, so that active notification starts
// sessions of its own.
func (d *Device) armTraffic() {
	if d.traffic != nil {
		return
	}
	watched := false
	for name, a := range d.t.attrs {
		if e, ok := d.t.get(name); ok && a.notification > 0 && e.is(flagDynamic) {
			watched = true
			break
		}
	}
	if !watched {
		return
	}
	fire := func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.traffic == nil || d.state == stateDone || d.sim.stopping.Load() {
			return
		}
		d.tick()
		d.traffic.Reset(d.sim.cfg.TrafficInterval)
	}
	d.traffic = time.AfterFunc(d.sim.cfg.TrafficInterval, fire)
}

// eventRank orders an Inform's events: standard codes by number, then
// method events, then vendor events.
func eventRank(code cwmp.EventCode) int {
	info := cwmp.ParseEvent(string(code))
	switch info.Kind {
	case cwmp.EventStandard:
		return info.Number
	case cwmp.EventMethod:
		return 1000
	}
	return 2000
}

// informParts is what one session's Inform carries.
type informParts struct {
	inform  *cwmp.Inform
	sent    []cwmp.EventStruct // the pending events it delivers
	changed []string
	tcs     []completion
	dus     []cwmp.DUStateChangeComplete
}

func (d *Device) composeInform() informParts {
	p := d.t.p
	ip := informParts{sent: slices.Clone(d.pending), changed: slices.Clone(d.changed), tcs: slices.Clone(d.tcOut), dus: slices.Clone(d.duOut)}
	events := slices.Clone(d.pending)
	if len(d.changed) > 0 {
		events = append(events, cwmp.EventStruct{EventCode: cwmp.EventValueChange})
	}
	if len(d.tcOut) > 0 {
		events = append(events, cwmp.EventStruct{EventCode: cwmp.EventTransferComplete})
		for _, c := range d.tcOut {
			events = append(events, cwmp.EventStruct{EventCode: c.method, CommandKey: c.tc.CommandKey})
		}
	}
	if len(d.duOut) > 0 {
		events = append(events, cwmp.EventStruct{EventCode: cwmp.EventDUStateChangeComplete})
		for _, du := range d.duOut {
			events = append(events, cwmp.EventStruct{EventCode: cwmp.EventMChangeDUState, CommandKey: du.CommandKey})
		}
	}
	slices.SortStableFunc(events, func(a, b cwmp.EventStruct) int { return eventRank(a.EventCode) - eventRank(b.EventCode) })
	if len(events) > 64 {
		events = events[:64] // the schema's limit; the rest waits for the next session
	}
	in := &cwmp.Inform{
		DeviceID: d.Identity(), Events: events, MaxEnvelopes: 1,
		CurrentTime: time.Now().Truncate(time.Second), RetryCount: d.retries,
	}
	seen := map[string]bool{}
	add := func(name string) {
		if seen[name] {
			return
		}
		if e, ok := d.t.get(name); ok && e.kind == kindParam {
			seen[name] = true
			in.ParameterList = append(in.ParameterList, cwmp.ParameterValue{Name: name, Value: d.wireValue(e)})
		}
	}
	for _, n := range p.InformParams {
		add(n)
	}
	// Parameters the ACS asked for with ManagementServer.InformParameter.
	table := p.Root + "ManagementServer.InformParameter."
	var rows []string
	d.t.walk(table, func(e *entry) bool {
		if e.kind == kindObject && depth(e.name) == depth(table)+1 {
			rows = append(rows, e.name)
		}
		return true
	})
	for _, row := range rows {
		if en, _ := cwmp.ParseBool(d.raw(row + "Enable")); !en {
			continue
		}
		if list := d.raw(row + "EventList"); list != "" && !eventListMatches(list, events) {
			continue
		}
		add(d.raw(row + "ParameterName"))
	}
	for _, n := range d.changed {
		add(n)
	}
	ip.inform = in
	return ip
}

func eventListMatches(list string, events []cwmp.EventStruct) bool {
	for item := range strings.SplitSeq(list, ",") {
		for _, e := range events {
			if strings.EqualFold(strings.TrimSpace(item), string(e.EventCode)) {
				return true
			}
		}
	}
	return false
}

// delivered is called when a session ended well: the events its Inform
// carried are done with. Until then they stay pending, so that a session
// that fails after its InformResponse is retried with the same events, as
// RouterOS does after a session it could not finish (it came back with
// "0 BOOTSTRAP,1 BOOT" and RetryCount 2); an ACS must take repeated events
// anyway. Events tied to a completion message go with its response, not
// here.
func (d *Device) delivered(ip informParts) {
	for _, e := range ip.sent {
		if i := slices.Index(d.pending, e); i >= 0 {
			d.pending = slices.Delete(d.pending, i, i+1)
		}
	}
	d.changed = slices.DeleteFunc(d.changed, func(n string) bool { return slices.Contains(ip.changed, n) })
	if len(d.changed) == 0 {
		d.activeChange = false
	}
}

// ---- values (d.mu held) ----

// raw is a parameter's value as the device knows it, passwords included.
func (d *Device) raw(name string) string {
	e, ok := d.t.get(name)
	if !ok {
		return ""
	}
	return d.value(e)
}

func (d *Device) value(e *entry) string {
	if v, ok := d.t.vals[e.name]; ok {
		return v
	}
	return d.generate(e)
}

// wireValue is a parameter as the device reports it.
func (d *Device) wireValue(e *entry) cwmp.Value {
	t := e.typ
	if t == cwmp.TypeUnsignedLong && d.sim.quirks.CountersAsUnsignedInt {
		t = cwmp.TypeUnsignedInt
	}
	if e.is(flagHidden) {
		return cwmp.Value{Type: t}
	}
	return cwmp.Value{Type: t, Text: d.value(e)}
}

func (d *Device) generate(e *entry) string {
	s := d.sim
	n := d.number()
	switch e.gen {
	case genNone:
		return e.value
	case genSerial:
		return d.serial
	case genMAC:
		return d.mac(int(e.arg))
	case genWANIP:
		v := 2 + n
		return fmt.Sprintf("100.%d.%d.%d", 64+(v>>16)&63, (v>>8)&255, v&255)
	case genWANGW:
		return "100.64.0.1"
	case genCRURL:
		return d.ConnectionRequestURL()
	case genCRUser:
		return d.expand(s.cfg.CRUsername)
	case genCRPass:
		return d.expand(s.cfg.CRPassword)
	case genACSURL:
		return s.cfg.ACSURL
	case genACSUser:
		return d.expand(s.cfg.ACSUsername)
	case genACSPass:
		return d.expand(s.cfg.ACSPassword)
	case genUptime:
		if d.bootAt.IsZero() {
			return "0"
		}
		return strconv.FormatInt(int64(time.Since(d.bootAt)/time.Second), 10)
	case genNow:
		return cwmp.FormatDateTime(time.Now(), false)
	case genBootTime:
		if d.bootAt.IsZero() {
			return cwmp.FormatDateTime(cwmp.UnknownTime, false)
		}
		return cwmp.FormatDateTime(d.bootAt, false)
	case genCounter:
		base := mix(s.cfg.Seed, n, e.hash) % 1_000_000
		rate := 100 + mix(s.cfg.Seed, n, e.hash, 1)%20_000
		v := base + rate*d.ticks
		if e.typ == cwmp.TypeUnsignedInt {
			v &= 0xffffffff
		}
		return strconv.FormatUint(v, 10)
	case genGauge:
		lo, hi := int64(e.arg), int64(e.arg2)
		if hi <= lo {
			return strconv.FormatInt(lo, 10)
		}
		return strconv.FormatInt(lo+int64(mix(s.cfg.Seed, n, e.hash, d.ticks)%uint64(hi-lo+1)), 10)
	case genCount:
		table := strings.TrimSuffix(e.name, "NumberOfEntries") + "."
		return strconv.Itoa(d.t.countRows(table))
	case genInterval:
		return strconv.FormatInt(int64(s.cfg.Interval/time.Second), 10)
	case genPeriodic:
		return strconv.FormatBool(s.cfg.Mode == ModePeriodic)
	case genHostMAC:
		v := mix(s.cfg.Seed, n, 0x4057, uint64(e.arg))
		return fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", byte(v)&0xfe|0x02, byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40))
	case genHostIP:
		return fmt.Sprintf("192.168.1.%d", 100+e.arg)
	case genSSID:
		if e.arg > 1 {
			return fmt.Sprintf("SIM-%s-%d", d.serial, e.arg)
		}
		return "SIM-" + d.serial
	case genWiFiKey:
		return fmt.Sprintf("%016x", mix(s.cfg.Seed, n, 0x3e7, uint64(e.arg)))
	case genToken:
		return d.token
	case genRetryMin:
		return strconv.FormatInt(int64(s.cfg.RetryMin/time.Second), 10)
	case genRetryMul:
		return strconv.FormatInt(int64(s.cfg.RetryMultiplier*1000), 10)
	case genOUI:
		return s.ident.oui
	case genProductClass:
		return s.ident.productClass
	case genManufacturer:
		return s.ident.manufacturer
	}
	return e.value
}

func (d *Device) expand(tmpl string) string {
	id := d.Identity()
	r := strings.NewReplacer("%s", d.serial, "%i", id.OUI+"-"+id.ProductClass+"-"+d.serial)
	return r.Replace(tmpl)
}

// mac is the device's base MAC address plus off: the OUI, then three bytes
// from the seed and the device number.
func (d *Device) mac(off int) string {
	o := d.sim.ident.ouiBytes
	v := uint32(mix(d.sim.cfg.Seed, d.number(), 0x3ac)) & 0xffffff
	v = (v&^0xf + uint32(off)) & 0xffffff
	return fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", o[0], o[1], o[2], byte(v>>16), byte(v>>8), byte(v))
}

// ---- sessions ----

// session is one session in progress.
type session struct {
	d         *Device
	conn      *sessConn
	ns        string
	calls     []string
	rebootKey *string // set by Reboot
	reset     bool    // FactoryReset
	abandon   bool
	after     []func(d *Device) // run once the session is over (d.mu held)
}

func (d *Device) runSession() {
	s := d.sim
	d.mu.Lock()
	if d.state != stateQueued || s.stopping.Load() {
		if d.state == stateQueued {
			d.state = stateIdle
		}
		d.mu.Unlock()
		return
	}
	// The traffic clock advances before the session starts, while the
	// device is still queued: a change it causes goes into this Inform
	// rather than asking for another session.
	d.tick()
	d.state = stateSession
	d.again = false
	ip := d.composeInform()
	acsURL := d.raw(d.t.p.Root + "ManagementServer.URL")
	if acsURL == "" {
		acsURL = s.cfg.ACSURL
	}
	user := d.raw(d.t.p.Root + "ManagementServer.Username")
	pass := d.raw(d.t.p.Root + "ManagementServer.Password")
	cnonce := fmt.Sprintf("%016x", d.rng.next())
	d.msgID++
	informID := fmt.Sprintf("%s.%d", d.serial, d.msgID)
	d.mu.Unlock()

	ss := &session{d: d, ns: s.prof.Namespace}
	start := time.Now()
	s.stats.Started.Add(1)
	err := ss.run(acsURL, user, pass, cnonce, informID, ip)
	end := time.Now()
	kind := classify(err)
	if err != nil && s.ctx.Err() != nil {
		// Cut off by the simulator stopping, not failed by the ACS.
		if s.stats.recording(start) {
			s.stats.CutOff.Add(1)
		}
	} else {
		s.stats.recordSession(start, end, kind, len(ss.calls), ip.inform.RetryCount, ss.abandon)
	}
	if err != nil {
		s.log.Debug("session failed", "device", d.serial, "kind", kind, "err", err)
	}
	d.finish(ss, ip, start, end, err, kind)
}

func (d *Device) finish(ss *session, ip informParts, start, end time.Time, err error, kind ErrorKind) {
	d.mu.Lock()
	defer d.mu.Unlock()
	events := make([]string, len(ip.inform.Events))
	for i, e := range ip.inform.Events {
		events[i] = string(e.EventCode)
	}
	seq := d.totalSessions() + 1
	d.history = append(d.history, SessionResult{Start: start, End: end, Events: events, RetryCount: ip.inform.RetryCount, Calls: ss.calls, Err: err, Kind: kind, Abandoned: ss.abandon, seq: seq})
	if len(d.history) > historyLen {
		d.history = slices.Delete(d.history, 0, len(d.history)-historyLen)
	}
	close(d.ended)
	d.ended = make(chan struct{})

	d.state = stateIdle
	failed := err != nil
	if failed {
		// Events that must not be retried go; the rest wait for the
		// retry, which TR-069 requires of a session that failed.
		d.pending = slices.DeleteFunc(d.pending, func(e cwmp.EventStruct) bool {
			return cwmp.RetentionOf(e.EventCode) == cwmp.RetainNever
		})
		d.retries++
	} else {
		d.delivered(ip)
		d.retries = 0
		d.okSessions++
		if d.okSessions == 1 {
			d.sim.settled.Add(1)
		}
	}
	for _, f := range ss.after {
		f(d)
	}
	if d.sim.stopping.Load() {
		d.state = stateDone
		return
	}
	switch {
	case ss.reset:
		d.factoryReset()
		return
	case ss.rebootKey != nil:
		d.reboot(cwmp.EventStruct{EventCode: cwmp.EventMReboot, CommandKey: *ss.rebootKey})
		return
	case d.rebootAfter:
		d.rebootAfter = false
		if d.bootstrapAft {
			d.bootstrapAft, d.bootstrapped = false, false
		}
		d.reboot()
		d.installVersion(d.newVersion)
		d.newVersion = ""
		return
	}
	if !failed && d.sim.cfg.SessionsPerDevice > 0 && d.okSessions >= d.sim.cfg.SessionsPerDevice {
		d.state = stateDone
		d.disarm()
		d.sim.deviceDone()
		return
	}
	switch {
	case failed && d.hasWork():
		d.arm(d.retryWait(), func(d *Device) { d.wantSession() })
	case d.again || d.hasWork():
		d.wantSession()
	default:
		d.scheduleNext()
	}
}

// run talks to the ACS from Inform to the end of the session.
func (ss *session) run(acsURL, user, pass, cnonce, informID string, ip informParts) error {
	d := ss.d
	s := d.sim
	q := s.quirks
	c, err := newSessConn(s.ctx, s, acsURL, q, s.prof.UserAgent, user, pass, cnonce)
	if err != nil {
		return err
	}
	ss.conn = c
	defer c.close()

	env := &cwmp.Envelope{Namespace: ss.ns, Body: ip.inform}
	if !q.NoInformHeader {
		env.Header.ID, env.Header.HasID = informID, true
	}
	env.Header.SupportedCWMPVersions = s.prof.SupportedVersions
	rep, err := c.post(encode(nil, env, q))
	if err != nil {
		return err
	}
	resp, err := expectResponse(rep)
	if err != nil {
		return err
	}
	if _, ok := resp.Body.(*cwmp.InformResponse); !ok {
		return &sessionError{kind: ErrProtocol, err: fmt.Errorf("the Inform was answered with %s", method(resp.Body))}
	}
	if slices.ContainsFunc(ip.sent, func(e cwmp.EventStruct) bool { return e.EventCode == cwmp.EventBootstrap }) {
		d.mu.Lock()
		d.bootstrapped = true
		d.mu.Unlock()
	}

	hold := resp.Header.HoldRequests != nil && *resp.Header.HoldRequests
	if !hold {
		if err := ss.sendCompletions(ip); err != nil {
			return err
		}
	}
	rep, err = c.post(nil)
	for {
		if err != nil {
			return err
		}
		switch {
		case rep.status == http.StatusNoContent:
			return nil
		case rep.status == http.StatusOK && soap.IsEmpty(rep.body):
			// The pre-Amendment 1 ending: the ACS's empty response
			// asks for one more empty POST.
			rep, err = c.post(nil)
			if err != nil {
				return err
			}
			if rep.status/100 != 2 {
				return httpError(rep)
			}
			return nil
		case rep.status != http.StatusOK:
			return httpError(rep)
		}
		req, derr := soap.Decode(rep.body, soap.Limits{MaxBytes: maxReply})
		if derr != nil {
			return &sessionError{kind: ErrProtocol, err: fmt.Errorf("undecodable ACS request: %w", derr)}
		}
		if req == nil || req.Body == nil {
			return &sessionError{kind: ErrProtocol, err: errors.New("ACS sent an envelope without a request")}
		}
		ss.calls = append(ss.calls, req.Body.Method())
		answer := ss.answer(req.Body)
		out := &cwmp.Envelope{Namespace: ss.ns, Body: answer}
		out.Header.ID, out.Header.HasID = req.Header.ID, req.Header.HasID
		body := encode(nil, out, q)
		if ss.abandon {
			// RouterOS after a full configuration file: the answer goes
			// out, then the device walks away to apply it.
			_, _ = c.post(body)
			return nil
		}
		rep, err = c.post(body)
	}
}

// sendCompletions delivers TransferComplete and DUStateChangeComplete
// messages. A message is kept until its response arrives; fault 8005 asks
// for it again in a later session.
func (ss *session) sendCompletions(ip informParts) error {
	d := ss.d
	q := d.sim.quirks
	for _, c := range ip.tcs {
		tc := c.tc
		d.mu.Lock()
		d.msgID++
		id := fmt.Sprintf("%s.%d", d.serial, d.msgID)
		d.mu.Unlock()
		rep, err := ss.conn.post(encode(nil, &cwmp.Envelope{Namespace: ss.ns, Header: cwmp.Header{ID: id, HasID: true}, Body: &tc}, q))
		if err != nil {
			return err
		}
		resp, err := expectResponse(rep)
		if f, ok := asFault(err); ok && f.Code == cwmp.FaultACSRetryRequest {
			return nil
		}
		if err != nil {
			return err
		}
		if _, ok := resp.Body.(*cwmp.TransferCompleteResponse); !ok {
			return &sessionError{kind: ErrProtocol, err: fmt.Errorf("the TransferComplete was answered with %s", method(resp.Body))}
		}
		d.mu.Lock()
		d.tcOut = slices.DeleteFunc(d.tcOut, func(x completion) bool { return x.tc.CommandKey == tc.CommandKey && x.method == c.method })
		d.transfers = slices.DeleteFunc(d.transfers, func(t *transfer) bool { return t.req.CommandKey == tc.CommandKey && t.state == transferReported })
		d.mu.Unlock()
	}
	for _, du := range ip.dus {
		du := du
		rep, err := ss.conn.post(encode(nil, &cwmp.Envelope{Namespace: ss.ns, Header: cwmp.Header{ID: "du." + du.CommandKey, HasID: true}, Body: &du}, q))
		if err != nil {
			return err
		}
		resp, err := expectResponse(rep)
		if f, ok := asFault(err); ok && f.Code == cwmp.FaultACSRetryRequest {
			return nil
		}
		if err != nil {
			return err
		}
		if _, ok := resp.Body.(*cwmp.DUStateChangeCompleteResponse); !ok {
			return &sessionError{kind: ErrProtocol, err: fmt.Errorf("the DUStateChangeComplete was answered with %s", method(resp.Body))}
		}
		d.mu.Lock()
		d.duOut = slices.DeleteFunc(d.duOut, func(x cwmp.DUStateChangeComplete) bool { return x.CommandKey == du.CommandKey })
		d.mu.Unlock()
	}
	return nil
}

func method(b cwmp.Body) string {
	if b == nil {
		return "an empty body"
	}
	return b.Method()
}

// expectResponse reads the ACS's answer to a request the device sent.
func expectResponse(rep *reply) (*cwmp.Envelope, error) {
	if rep.status == http.StatusOK || rep.status == http.StatusInternalServerError {
		env, err := soap.Decode(rep.body, soap.Limits{MaxBytes: maxReply})
		if err != nil {
			return nil, &sessionError{kind: ErrProtocol, status: rep.status, err: err}
		}
		if env != nil {
			if f, ok := env.Body.(*cwmp.Fault); ok {
				return nil, &sessionError{kind: ErrFault, status: rep.status, err: f}
			}
			if rep.status == http.StatusOK {
				return env, nil
			}
		}
	}
	return nil, httpError(rep)
}

func httpError(rep *reply) error {
	kind := ErrHTTP
	switch rep.status {
	case http.StatusServiceUnavailable:
		kind = Err503
	case http.StatusUnauthorized:
		kind = ErrAuth
	case http.StatusNoContent, http.StatusOK:
		kind = ErrProtocol
	}
	return &sessionError{kind: kind, status: rep.status, err: fmt.Errorf("unexpected HTTP %d", rep.status)}
}

func asFault(err error) (*cwmp.Fault, bool) {
	var f *cwmp.Fault
	ok := errors.As(err, &f)
	return f, ok
}
