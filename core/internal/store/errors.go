package store

import (
	"errors"
	"fmt"
)

// Errors a Store returns, possibly wrapped; test them with errors.Is.
var (
	// ErrNotFound: the device, task, fault or key does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrInvalid: the request itself is malformed (empty ID, bad JSON, a
	// value over a size limit). Retrying it unchanged will fail again.
	ErrInvalid = errors.New("store: invalid request")
	// ErrIllegalTransition: a task state change that the task life cycle
	// does not allow, such as leaving a final state. The concrete error is a
	// *TransitionError.
	ErrIllegalTransition = errors.New("store: illegal task state transition")
	// ErrConflict: a compare-and-set update found the record in another
	// state than the caller expected (TaskUpdate.From).
	ErrConflict = errors.New("store: conflicting update")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrLocked: another process holds the database.
	ErrLocked = errors.New("store: database in use by another process")
	// ErrCorrupt: stored data could not be decoded.
	ErrCorrupt = errors.New("store: corrupt data")
)

// TransitionError reports a rejected task state change.
type TransitionError struct {
	TaskID   int64
	From, To TaskState
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("store: task %d: illegal transition %s -> %s", e.TaskID, e.From, e.To)
}

// Is makes errors.Is(err, ErrIllegalTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// Invalid wraps ErrInvalid with a reason.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
