package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
	"github.com/provisor/provisor/sdk"
	pluginv1 "github.com/provisor/provisor/sdk/proto/provisor/plugin/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// State is where a plugin is in its life.
type State string

// Plugin states.
const (
	StateStarting   State = "starting"
	StateRunning    State = "running"
	StateRestarting State = "restarting" // waiting out the backoff after an exit or failure
	StateRefused    State = "refused"    // will not start until fixed (checksum, protocol, set-up)
	StateStopped    State = "stopped"
)

// hostCapabilities are what this host serves to plugins.
func hostCapabilities(o *Options) []string {
	caps := []string{"session", "cached"}
	if o.Store != nil {
		caps = append(caps, "tags", "kv")
	}
	if o.Files != nil {
		caps = append(caps, "files", "upload-url")
	}
	return caps
}

// Health is a plugin's state and counters, for logs and the API.
type Health struct {
	ID           string    `json:"id"`
	Version      string    `json:"version"`
	State        State     `json:"state"`
	Since        time.Time `json:"since"`
	PID          string    `json:"pid,omitempty"`
	Capabilities []string  `json:"capabilities,omitempty"`
	Events       []string  `json:"events,omitempty"`
	Functions    []string  `json:"functions,omitempty"`
	// Restarts counts starts after the first; Crashes counts exits and
	// failed health checks the host did not ask for.
	Restarts int64 `json:"restarts"`
	Crashes  int64 `json:"crashes"`
	// Calls counts calls made on the plugin; Failures those that failed
	// (unavailable, timed out or broken off); Timeouts those that timed out.
	Calls     int64  `json:"calls"`
	Failures  int64  `json:"failures"`
	Timeouts  int64  `json:"timeouts"`
	LastError string `json:"last_error,omitempty"`
}

// Plugin is one supervised plugin.
type Plugin struct {
	m    *Manifest
	opts *Options
	log  *slog.Logger

	mu      sync.Mutex
	state   State
	since   time.Time
	inst    *instance
	desc    *pluginv1.DescribeResponse // from the latest successful start
	lastErr error

	restarts, crashes, calls, failures, timeouts atomic.Int64

	kick     chan struct{} // something looks wrong: check now
	stop     chan struct{}
	done     chan struct{}
	firstTry chan struct{} // closed once the first start attempt is over
	stopOnce sync.Once
}

// instance is one running process of a plugin.
type instance struct {
	client *plugin.Client
	rpc    pluginv1.PluginClient
	conn   *grpc.ClientConn
	svc    *service
	caps   []string
}

func newPlugin(m *Manifest, opts *Options) *Plugin {
	return &Plugin{m: m, opts: opts, log: opts.Logger.With("plugin", m.ID), state: StateStarting, since: time.Now(),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), firstTry: make(chan struct{})}
}

// ID is the plugin's id.
func (p *Plugin) ID() string { return p.m.ID }

// Manifest returns the plugin's manifest.
func (p *Plugin) Manifest() *Manifest { return p.m }

// Health reports the plugin's state and counters.
func (p *Plugin) Health() Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := Health{ID: p.m.ID, Version: p.m.Version, State: p.state, Since: p.since,
		Restarts: p.restarts.Load(), Crashes: p.crashes.Load(), Calls: p.calls.Load(),
		Failures: p.failures.Load(), Timeouts: p.timeouts.Load()}
	if p.lastErr != nil {
		h.LastError = p.lastErr.Error()
	}
	if p.inst != nil {
		h.PID = p.inst.client.ID()
	}
	if p.desc != nil {
		h.Version, h.Capabilities, h.Events = p.desc.Version, p.desc.Capabilities, p.desc.Events
		for _, f := range p.desc.Functions {
			h.Functions = append(h.Functions, f.Name)
		}
	}
	return h
}

// Functions lists the functions the plugin exports, as it last reported.
func (p *Plugin) Functions() []sdk.FunctionInfo {
	desc := p.description()
	if desc == nil {
		return nil
	}
	out := make([]sdk.FunctionInfo, len(desc.Functions))
	for i, f := range desc.Functions {
		out[i] = sdk.FunctionInfo{Name: f.Name, Doc: f.Doc, NeedsSession: f.NeedsSession}
	}
	return out
}

func (p *Plugin) description() *pluginv1.DescribeResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.desc
}

func (p *Plugin) has(capability string) bool {
	d := p.description()
	return d != nil && slices.Contains(d.Capabilities, capability)
}

func (p *Plugin) declaresUpload(fileType string) bool {
	d := p.description()
	if d == nil || !slices.Contains(d.Capabilities, "file-types") {
		return false
	}
	for _, t := range d.FileTypes {
		if t.Upload && t.Name == fileType {
			return true
		}
	}
	return false
}

func (p *Plugin) setState(s State, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != s {
		p.since = time.Now()
	}
	p.state = s
	if err != nil {
		p.lastErr = err
	}
}

// instance returns the running process, or fails at once with an
// *UnavailableError.
func (p *Plugin) instance() (*instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == StateRunning && p.inst != nil {
		return p.inst, nil
	}
	return nil, &UnavailableError{Plugin: p.m.ID, State: p.state, Cause: p.lastErr}
}

func (p *Plugin) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *Plugin) shutdown() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

// supervise starts the plugin and restarts it whenever it exits or fails
// its health check, waiting BackoffMin, doubled after each quick failure
// up to BackoffMax. A refused plugin is not retried.
func (p *Plugin) supervise() {
	defer close(p.done)
	first := true
	backoff := p.opts.BackoffMin
	for {
		if !first {
			p.restarts.Add(1)
		}
		inst, err := p.start()
		first = false
		if err != nil {
			var refused *RefusedError
			if errors.As(err, &refused) {
				p.log.Error("plugin refused", "err", err)
				p.setState(StateRefused, err)
				p.signalFirstTry()
				<-p.stop
				p.setState(StateStopped, nil)
				return
			}
			p.log.Warn("plugin did not start", "err", err, "retry_in", backoff)
			p.setState(StateRestarting, err)
			p.signalFirstTry()
			if !p.sleep(backoff) {
				p.setState(StateStopped, nil)
				return
			}
			backoff = min(backoff*2, p.opts.BackoffMax)
			continue
		}
		started := time.Now()
		p.mu.Lock()
		p.inst, p.state, p.since, p.lastErr = inst, StateRunning, started, nil
		p.mu.Unlock()
		p.log.Info("plugin running", "version", p.description().GetVersion(), "pid", inst.client.ID(), "capabilities", strings.Join(inst.caps, ","))
		if p.opts.OnStart != nil {
			p.opts.OnStart(p)
		}
		p.signalFirstTry()

		reason := p.watch(inst)
		p.mu.Lock()
		p.inst = nil
		p.mu.Unlock()
		if reason == nil { // asked to stop
			inst.client.Kill()
			p.setState(StateStopped, nil)
			return
		}
		p.crashes.Add(1)
		p.setState(StateRestarting, reason)
		inst.client.Kill()
		if time.Since(started) >= p.opts.StableAfter {
			backoff = p.opts.BackoffMin
		}
		p.log.Error("plugin stopped serving; restarting", "err", reason, "retry_in", backoff, "restarts", p.restarts.Load()+1)
		if !p.sleep(backoff) {
			p.setState(StateStopped, nil)
			return
		}
		backoff = min(backoff*2, p.opts.BackoffMax)
	}
}

func (p *Plugin) signalFirstTry() {
	select {
	case <-p.firstTry:
	default:
		close(p.firstTry)
	}
}

func (p *Plugin) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stop:
		return false
	}
}

// exitPoll is how often a running plugin's process is checked for an
// exit; checking a flag costs nothing, and a short period bounds how long
// a crash goes unnoticed when no call trips over it.
const exitPoll = 50 * time.Millisecond

// watch returns nil when asked to stop, otherwise why the plugin must be
// restarted.
func (p *Plugin) watch(inst *instance) error {
	poll := time.NewTicker(exitPoll)
	defer poll.Stop()
	health := time.NewTicker(p.opts.HealthInterval)
	defer health.Stop()
	for {
		select {
		case <-p.stop:
			return nil
		case <-poll.C:
			if inst.client.Exited() {
				return errors.New("plugin process exited")
			}
		case <-p.kick:
			if inst.client.Exited() {
				return errors.New("plugin process exited")
			}
			if err := p.ping(inst); err != nil {
				return fmt.Errorf("health check after a failed call: %w", err)
			}
		case <-health.C:
			if err := p.ping(inst); err != nil {
				return fmt.Errorf("health check: %w", err)
			}
		}
	}
}

// Ping checks now that the plugin's process answers.
func (p *Plugin) Ping(ctx context.Context) error {
	inst, err := p.instance()
	if err != nil {
		return err
	}
	_, err = grpc_health_v1.NewHealthClient(inst.conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

func (p *Plugin) ping(inst *instance) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.HealthTimeout)
	defer cancel()
	_, err := grpc_health_v1.NewHealthClient(inst.conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

var pluginVersionRE = regexp.MustCompile(`Plugin version: (\d+)`)

// start runs one process of the plugin up to a successful Describe.
func (p *Plugin) start() (*instance, error) {
	m := p.m
	if m.Protocol != sdk.ProtocolMajor {
		return nil, &RefusedError{Plugin: m.ID, Err: ErrProtocol,
			Reason: fmt.Sprintf("its manifest declares provisor.plugin.v%d, but this ACS speaks v%d; rebuild the plugin against a v%d SDK", m.Protocol, sdk.ProtocolMajor, sdk.ProtocolMajor)}
	}
	if err := m.Verify(); err != nil {
		return nil, err
	}
	sum, _ := hex.DecodeString(m.SHA256)
	cmd := exec.Command(m.Path())
	cmd.Dir = m.Dir
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion: sdk.ProtocolMajor, MagicCookieKey: sdk.MagicCookieKey, MagicCookieValue: sdk.MagicCookieValue,
		},
		VersionedPlugins: map[int]plugin.PluginSet{sdk.ProtocolMajor: {sdk.PluginName: &hostPlugin{}}},
		Cmd:              cmd,
		SecureConfig:     &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     p.opts.StartTimeout,
		Logger:           newHCLogBridge(p.log),
	})
	fail := func(err error) (*instance, error) {
		client.Kill()
		return nil, err
	}
	rpcClient, err := client.Client()
	if err != nil {
		if strings.Contains(err.Error(), "incompatible API version") {
			got := "another"
			if mm := pluginVersionRE.FindStringSubmatch(err.Error()); mm != nil {
				got = "v" + mm[1]
			}
			return fail(&RefusedError{Plugin: m.ID, Err: ErrProtocol,
				Reason: fmt.Sprintf("the executable speaks provisor.plugin %s, but this ACS speaks v%d (its manifest claims v%d); rebuild the plugin against a v%d SDK", got, sdk.ProtocolMajor, m.Protocol, sdk.ProtocolMajor)})
		}
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return fail(&RefusedError{Plugin: m.ID, Err: ErrChecksum, Reason: "the executable changed while it was being started"})
		}
		return fail(fmt.Errorf("starting %s: %w", m.Path(), err))
	}
	raw, err := rpcClient.Dispense(sdk.PluginName)
	if err != nil {
		return fail(err)
	}
	hs := raw.(*hostSide)
	svc := newService(m.ID, p.opts)
	brokerID := hs.broker.NextId()
	go hs.broker.AcceptAndServe(brokerID, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(slices.Clip(opts), grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))))...)
		pluginv1.RegisterHostServer(s, svc)
		return s
	})
	cfg := m.Config
	if c, ok := p.opts.Config[m.ID]; ok {
		cfg = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.StartTimeout)
	defer cancel()
	rpc := pluginv1.NewPluginClient(hs.conn)
	desc, err := rpc.Describe(ctx, &pluginv1.DescribeRequest{ProtocolMajor: sdk.ProtocolMajor, HostVersion: p.opts.HostVersion,
		HostCapabilities: hostCapabilities(p.opts), HostBrokerId: brokerID, Config: cfg})
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition {
			return fail(&RefusedError{Plugin: m.ID, Reason: st.Message()})
		}
		return fail(fmt.Errorf("describe: %w", err))
	}
	if desc.Id != m.ID {
		return fail(&RefusedError{Plugin: m.ID, Reason: fmt.Sprintf("the executable calls itself %q, the manifest %q", desc.Id, m.ID)})
	}
	p.mu.Lock()
	p.desc = desc
	p.mu.Unlock()
	return &instance{client: client, rpc: rpc, conn: hs.conn, svc: svc, caps: desc.Capabilities}, nil
}

// hostPlugin is the go-plugin glue on the host's side.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

type hostSide struct {
	conn   *grpc.ClientConn
	broker *plugin.GRPCBroker
}

func (hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host does not serve plugins")
}

func (hostPlugin) GRPCClient(_ context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &hostSide{conn: c, broker: b}, nil
}

// failed classifies a failed plugin call and decides what it says about
// the plugin.
func (p *Plugin) failed(call string, err error, callCtx, sessCtx context.Context) error {
	p.failures.Add(1)
	if errors.Is(context.Cause(callCtx), ErrTimeout) {
		p.timeouts.Add(1)
		p.poke()
		return fmt.Errorf("plugin %s: %s: %w after %v of the plugin's own time", p.m.ID, call, ErrTimeout, p.opts.CallTimeout)
	}
	if sessCtx != nil && sessCtx.Err() != nil {
		return fmt.Errorf("plugin %s: %s: %w: %v", p.m.ID, call, hook.ErrSessionEnded, context.Cause(sessCtx))
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable || (ok && st.Code() == codes.Canceled) {
		p.poke()
		p.mu.Lock()
		state := p.state
		p.mu.Unlock()
		if state == StateRunning {
			state = StateRestarting
		}
		return &UnavailableError{Plugin: p.m.ID, State: state, Cause: fmt.Errorf("%s broken off: %v", call, err)}
	}
	return fmt.Errorf("plugin %s: %s: %w", p.m.ID, call, err)
}

// watchdog cancels a call when the plugin has had CallTimeout of its own
// time since the call began or since its last device call returned.
type watchdog struct {
	t *time.Timer
	d time.Duration
}

func newWatchdog(d time.Duration, fire func()) *watchdog {
	return &watchdog{t: time.AfterFunc(d, fire), d: d}
}

func (w *watchdog) pause()  { w.t.Stop() }
func (w *watchdog) resume() { w.t.Reset(w.d) }
func (w *watchdog) stop()   { w.t.Stop() }

// withSession runs fn with a session lent to the plugin and a context
// that the watchdog cancels. It returns the loan, nil without a session,
// once it is over: its endedErr is the error that ended the session when
// a device call found it gone. taskKey is the command key of the task the
// call runs, if any.
func (p *Plugin) withSession(ctx context.Context, call string, inst *instance, s hook.Session, calls bool, taskKey string,
	fn func(ctx context.Context, handle uint64) error) (*liveSession, error) {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(p.opts.CallTimeout, func() { cancel(ErrTimeout) })
	var (
		handle uint64
		ls     *liveSession
	)
	if s != nil {
		handle, ls = inst.svc.open(s, calls, taskKey, wd.pause, wd.resume)
	}
	err := fn(cctx, handle)
	if ls != nil {
		inst.svc.close(handle)
	}
	wd.stop()
	if err != nil {
		var sessCtx context.Context
		if s != nil {
			sessCtx = ctx
		}
		err = p.failed(call, err, cctx, sessCtx)
	}
	return ls, err
}

// CallFunction runs one of the plugin's exported functions; c.Plugin is
// ignored.
func (p *Plugin) CallFunction(ctx context.Context, c FunctionCall) (json.RawMessage, error) {
	out, err := p.callFunction(ctx, c, "")
	return out.result, err
}

// functionOutcome is what a function call did besides its result.
type functionOutcome struct {
	result json.RawMessage
	// called is false when the plugin could not be called at all.
	called    bool
	transfers []startedTransfer
	lastFault *cwmp.Fault
}

// callFunction runs a function; taskKey is the command key of the task
// it runs as, if any.
func (p *Plugin) callFunction(ctx context.Context, c FunctionCall, taskKey string) (functionOutcome, error) {
	var out functionOutcome
	inst, err := p.instance()
	if err != nil {
		p.failures.Add(1)
		return out, err
	}
	out.called = true
	p.calls.Add(1)
	req := &pluginv1.CallFunctionRequest{Name: c.Name}
	for _, a := range c.Args {
		req.Args = append(req.Args, []byte(a))
	}
	switch {
	case c.Session != nil:
		req.SessionId = c.Session.ID()
		req.Device = deviceToProto(c.Session.Device())
		req.StartUnixNano = unixNano(c.Session.Start())
	case c.Device != nil:
		req.Device = deviceToProto(*c.Device)
	}
	var resp *pluginv1.CallFunctionResponse
	ls, err := p.withSession(ctx, c.Name, inst, c.Session, true, taskKey, func(cctx context.Context, handle uint64) error {
		req.Session = handle
		var err error
		resp, err = inst.rpc.CallFunction(cctx, req)
		return err
	})
	if ls != nil {
		out.transfers, out.lastFault = ls.transfers, ls.lastFault
	}
	if ended := ls.endedErr(); ended != nil {
		return out, fmt.Errorf("plugin %s: %s: %w", p.m.ID, c.Name, ended)
	}
	if err != nil {
		return out, err
	}
	if resp.Error != "" {
		return out, &CallError{Plugin: p.m.ID, Call: c.Name, Message: resp.Error}
	}
	out.result = resp.Result
	return out, nil
}

func (p *Plugin) credentials(ctx context.Context, kind, username string, d hook.Device, remoteIP string) (string, string, bool, error) {
	inst, err := p.instance()
	if err != nil {
		p.failures.Add(1)
		return "", "", false, err
	}
	p.calls.Add(1)
	cctx, cancel := context.WithTimeoutCause(ctx, p.opts.CallTimeout, ErrTimeout)
	defer cancel()
	resp, err := inst.rpc.Credentials(cctx, &pluginv1.CredentialsRequest{Kind: kind, Username: username, Device: deviceToProto(d), RemoteIp: remoteIP})
	if err != nil {
		return "", "", false, p.failed("Credentials", err, cctx, nil)
	}
	return resp.Username, resp.Password, resp.Found, nil
}

func (p *Plugin) handleUpload(ctx context.Context, d hook.Device, fileType, name string, size int64, head []byte) (UploadInspection, error) {
	inst, err := p.instance()
	if err != nil {
		p.failures.Add(1)
		return UploadInspection{}, err
	}
	p.calls.Add(1)
	cctx, cancel := context.WithTimeoutCause(ctx, p.opts.CallTimeout, ErrTimeout)
	defer cancel()
	resp, err := inst.rpc.HandleUpload(cctx, &pluginv1.HandleUploadRequest{Device: deviceToProto(d), FileType: fileType, Name: name, Size: size, Head: head})
	if err != nil {
		return UploadInspection{}, p.failed("HandleUpload", err, cctx, nil)
	}
	if resp.Error != "" {
		return UploadInspection{}, &CallError{Plugin: p.m.ID, Call: "HandleUpload", Message: resp.Error}
	}
	return UploadInspection{Plugin: p.m.ID, Name: resp.Name, Metadata: resp.Metadata}, nil
}
