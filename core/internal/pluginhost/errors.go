package pluginhost

import (
	"errors"
	"fmt"
)

// ErrUnavailable is wrapped by every error of a call on a plugin that is
// not running (starting, restarting, refused or stopped): such calls fail
// at once instead of waiting for it.
var ErrUnavailable = errors.New("plugin unavailable")

// ErrTimeout is wrapped by the error of a call the plugin did not answer
// in time.
var ErrTimeout = errors.New("plugin call timed out")

// ErrChecksum is wrapped when an executable does not match its manifest.
var ErrChecksum = errors.New("plugin checksum mismatch")

// ErrProtocol is wrapped when a plugin speaks another major version of
// provisor.plugin.
var ErrProtocol = errors.New("plugin protocol mismatch")

// UnavailableError says why a plugin cannot be called now.
type UnavailableError struct {
	Plugin string
	State  State
	// Cause is the last start or run error, if any.
	Cause error
}

func (e *UnavailableError) Error() string {
	s := fmt.Sprintf("plugin %s is %s", e.Plugin, e.State)
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Cause }

// RefusedError is a plugin the host will not start until it is fixed:
// bad checksum, wrong protocol, id mismatch, failed set-up.
type RefusedError struct {
	Plugin string
	Reason string
	Err    error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("plugin %s refused: %s", e.Plugin, e.Reason)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// CallError is an error the plugin itself reported from a handler or
// function.
type CallError struct {
	Plugin, Call, Message string
}

func (e *CallError) Error() string {
	return fmt.Sprintf("plugin %s: %s: %s", e.Plugin, e.Call, e.Message)
}
