// Package hook decides which handlers run for a CWMP session, and in what
// order, and defines what a handler sees of the session.
//
// A session fires its hooks after the CPE's empty POST: every registered
// handler runs once, in stage order (built-in, plugins, scripts, queued
// tasks), on the session's goroutine, and may call RPCs on the device. Each
// call blocks until the device's answer arrives in its next POST. Requests
// the CPE sends itself (TransferComplete and the like) reach the handlers
// that implement RequestHandler as soon as they arrive.
package hook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/store"
)

// Stage orders handlers; lower stages run first.
type Stage int

// The stages of the design: built-in work first, then plugins, then scripts,
// then tasks queued through the API.
const (
	StageBuiltin Stage = 100
	StagePlugins Stage = 200
	StageScripts Stage = 300
	StageTasks   Stage = 400
)

// Device is what the session knows of the device from its Inform and from
// the store.
type Device struct {
	ID           string
	Manufacturer string
	OUI          string
	ProductClass string
	SerialNumber string
	// New is set when the store had never seen the device before this
	// session.
	New bool
	// Root is the data-model root the device uses, "Device." or
	// "InternetGatewayDevice.".
	Root string
	// Version is the CWMP version in use for the session.
	Version cwmp.Version
}

// Session is the live session a handler works on.
type Session interface {
	// ID is the session's unique id, also on every log line.
	ID() string
	Device() Device
	Inform() *cwmp.Inform
	// HasEvent reports whether the Inform carried the event code.
	HasEvent(code cwmp.EventCode) bool
	// Requests lists the requests the CPE sent in this session so far.
	Requests() []cwmp.Body
	// Start is when the session began; handlers use it as "now".
	Start() time.Time
	// Value returns what the ACS knows of a parameter: what this session
	// learned, else what the store holds. It does not ask the device.
	Value(ctx context.Context, name string) (store.Param, bool, error)
	// Values returns everything known under a path prefix ("" for all),
	// sorted by name, with the same precedence as Value.
	Values(ctx context.Context, prefix string) ([]store.Param, error)
	// Call sends one RPC to the device and waits for its answer. A CPE
	// fault comes back as a *cwmp.Fault error; a device that goes silent
	// or disconnects gives an error wrapping ErrSessionEnded, after which
	// no further call can succeed.
	Call(ctx context.Context, req cwmp.Body) (cwmp.Body, error)
	Logger() *slog.Logger
}

// ErrSessionEnded is returned by Call once the session can no longer reach
// the device: it timed out, disconnected or the server is shutting down.
var ErrSessionEnded = errors.New("session ended")

// ErrSessionClosing is returned by Call once the device has accepted a
// transfer that its profile says it applies at once (TransferEndsSession,
// typically a firmware image it reboots for): the ACS sends it nothing
// more and ends the session cleanly. It wraps ErrSessionEnded, so that
// handlers treat it like a device that is gone: work not done waits for
// the next session.
var ErrSessionClosing = fmt.Errorf("%w: the device is applying a transfer", ErrSessionEnded)

// Closing reports whether the session can send no more RPCs because the
// device is applying a transfer (see ErrSessionClosing). Handlers check
// it before starting work they would have to undo.
func Closing(s Session) bool {
	c, ok := s.(interface{ Closing() bool })
	return ok && c.Closing()
}

// ErrNotNow is returned by Call from a RequestHandler: while the CPE is
// still sending its own requests the ACS cannot send any.
var ErrNotNow = errors.New("device calls are not possible while the CPE is sending requests")

// Handler is one participant of the hook chain.
type Handler interface {
	// Name identifies the handler in logs.
	Name() string
	// Run does the handler's work for the session. An error is logged and
	// recorded; the chain goes on with the next handler unless the error
	// wraps ErrSessionEnded.
	Run(ctx context.Context, s Session) error
}

// RequestHandler is implemented by handlers that want the requests a CPE
// sends (TransferComplete, AutonomousTransferComplete, RequestDownload,
// DUStateChangeComplete, AutonomousDUStateChangeComplete, Kicked). It runs
// before the ACS answers the request; Call is not available there.
type RequestHandler interface {
	OnRequest(ctx context.Context, s Session, req cwmp.Body) error
}

// Registry holds the handlers in stage order. Register during set-up; the
// registry is read-only once sessions run.
type Registry struct {
	entries []entry
}

type entry struct {
	stage Stage
	seq   int
	h     Handler
}

// Register adds a handler at a stage; handlers of one stage keep the order
// they were registered in.
func (r *Registry) Register(stage Stage, h Handler) {
	r.entries = append(r.entries, entry{stage: stage, seq: len(r.entries), h: h})
	slices.SortStableFunc(r.entries, func(a, b entry) int {
		if a.stage != b.stage {
			return int(a.stage - b.stage)
		}
		return a.seq - b.seq
	})
}

// Handlers returns the handlers in the order they run.
func (r *Registry) Handlers() []Handler {
	out := make([]Handler, len(r.entries))
	for i, e := range r.entries {
		out[i] = e.h
	}
	return out
}

// UnexpectedResponseError is returned by Call helpers when the device
// answers with another method than the one that fits the request.
type UnexpectedResponseError struct {
	Request, Response string
}

func (e *UnexpectedResponseError) Error() string {
	return fmt.Sprintf("device answered %s with %s", e.Request, e.Response)
}

// Do sends req and returns the response as the type the caller expects.
func Do[T cwmp.Body](ctx context.Context, s Session, req cwmp.Body) (T, error) {
	var zero T
	resp, err := s.Call(ctx, req)
	if err != nil {
		return zero, err
	}
	t, ok := resp.(T)
	if !ok {
		name := "empty message"
		if resp != nil {
			name = resp.Method()
		}
		return zero, &UnexpectedResponseError{Request: req.Method(), Response: name}
	}
	return t, nil
}
