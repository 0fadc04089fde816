package store

import (
	"context"
	"encoding/json"
	"time"
)

// Store is everything the ACS keeps. Implementations are safe for concurrent
// use. Every method that may block takes a context; a context that ends
// while a write waits for its commit abandons the wait, not the write, which
// may still be applied. Writes copy their inputs, so callers may reuse them
// as soon as the call returns.
//
// Writes that return after they are durable say so; the others ("Record…")
// return once queued and are made durable by the next commit, which Flush
// waits for.
type Store interface {
	DeviceStore
	ParamStore
	HistoryStore
	TaskStore
	FaultStore
	DataStore
	CredentialStore

	// WriteSession applies everything a session learned in one atomic
	// write: device upsert, parameter merge, session, events and faults.
	// It returns once durable.
	WriteSession(ctx context.Context, w SessionWrite) error

	// Flush returns once every write queued before the call is committed.
	Flush(ctx context.Context) error
	// Close commits what is queued and releases the database. Writes
	// after Close fail with ErrClosed, reads with an error.
	Close(ctx context.Context) error
}

// DeviceStore reads and writes device rows and tags.
type DeviceStore interface {
	// Device returns one device or ErrNotFound.
	Device(ctx context.Context, id string) (Device, error)
	// Devices returns one page of devices in ID order and the cursor for
	// the next page, empty after the last page.
	Devices(ctx context.Context, f DeviceFilter) (page []Device, next string, err error)
	// UpsertDevice creates the device or updates it. Empty strings and zero
	// times in d keep the stored values, FirstInform is set once, and Tags
	// are added to the stored ones. Durable on return.
	UpsertDevice(ctx context.Context, d Device) error
	// DeleteDevice removes the device with its parameters, history, tasks,
	// faults and data. Durable on return.
	DeleteDevice(ctx context.Context, id string) error
	// AddTags and RemoveTags change a device's tags; tags already present
	// (or absent) are ignored. Durable on return.
	AddTags(ctx context.Context, id string, tags ...string) error
	RemoveTags(ctx context.Context, id string, tags ...string) error
}

// ParamStore reads and merges the per-device parameter tree.
type ParamStore interface {
	// Params returns the device's whole tree, sorted by name; an empty tree
	// for a device never read, ErrNotFound for an unknown device.
	Params(ctx context.Context, deviceID string) (ParamTree, error)
	// ParamSubtree returns the nodes whose names start with prefix.
	ParamSubtree(ctx context.Context, deviceID, prefix string) (ParamTree, error)
	// UpdateParams merges upserts into the stored tree (see MergeParams)
	// and skips the write when nothing changes. Durable on return.
	UpdateParams(ctx context.Context, deviceID string, upserts []Param, deletePrefixes []string) error
}

// HistoryStore keeps bounded per-device session and event history; the
// oldest records beyond the backend's bound are dropped as new ones arrive.
type HistoryStore interface {
	// RecordSession and RecordEvents queue records and return; errors after
	// queueing (an unknown device) are logged, not returned.
	RecordSession(ctx context.Context, s SessionRecord) error
	RecordEvents(ctx context.Context, events []EventRecord) error
	// Sessions and Events list a device's history, newest first; limit 0
	// means all that is kept.
	Sessions(ctx context.Context, deviceID string, limit int) ([]SessionRecord, error)
	Events(ctx context.Context, deviceID string, limit int) ([]EventRecord, error)
}

// TaskStore is the durable task queue.
type TaskStore interface {
	// AddTask queues a task for an existing device and returns its ID once
	// the task is durable. State, Attempts, Created and Updated are set by
	// the store; MaxAttempts 0 takes the store's default.
	AddTask(ctx context.Context, t Task) (int64, error)
	// Task returns one task or ErrNotFound.
	Task(ctx context.Context, id int64) (Task, error)
	// PendingTasks returns the device's queued tasks in creation order.
	// Queued tasks whose Expires is not after now are moved to expired
	// (durably) and left out.
	PendingTasks(ctx context.Context, deviceID string, now time.Time) ([]Task, error)
	// UpdateTask changes a task's state if CanTransition allows it
	// (ErrIllegalTransition otherwise) and returns the updated task. Moving
	// to running counts one attempt. Durable on return.
	UpdateTask(ctx context.Context, u TaskUpdate) (Task, error)
	// CancelTask moves a task to cancelled.
	CancelTask(ctx context.Context, id int64) (Task, error)
	// TaskByCommandKey returns the device's newest task with this command
	// key, or ErrNotFound.
	TaskByCommandKey(ctx context.Context, deviceID, commandKey string) (Task, error)
	// CompleteTransfer ends the transfer task a TransferComplete names: the
	// oldest task with the command key that is waiting-transfer, running or
	// queued moves to done (fault == nil) or fault. applied is false, and
	// the task is returned unchanged, when the task had already ended, so
	// that a TransferComplete delivered twice completes its task once.
	// ErrNotFound when no task has the key. Durable on return.
	CompleteTransfer(ctx context.Context, deviceID, commandKey string, result json.RawMessage, fault *TaskFault) (t Task, applied bool, err error)
	// Tasks lists tasks in ID order with the cursor for the next page (0
	// after the last page).
	Tasks(ctx context.Context, f TaskFilter) (page []Task, next int64, err error)
}

// TaskHints is implemented by stores that keep in memory which devices
// may have task work, so that a session with none does not query for it.
// An answer may be wrong only in the safe direction: true when unsure.
type TaskHints interface {
	// MayHavePendingTasks is false when PendingTasks would return no
	// task for the device.
	MayHavePendingTasks(deviceID string) bool
	// MayHaveTaskChanges is false when no task of the device has been
	// written at or after since (TasksUpdatedSince would return none).
	MayHaveTaskChanges(deviceID string, since time.Time) bool
}

// DeviceExister is implemented by stores that can tell whether a device is
// known more cheaply than by reading it with Device.
type DeviceExister interface {
	DeviceExists(ctx context.Context, id string) (bool, error)
}

// FaultStore keeps faults for operators to inspect and clear.
type FaultStore interface {
	// AddFault stores a fault and returns its ID once durable.
	AddFault(ctx context.Context, f FaultRecord) (int64, error)
	// Faults lists faults newest first with the cursor for the next page
	// (0 after the last page).
	Faults(ctx context.Context, f FaultFilter) (page []FaultRecord, next int64, err error)
	// DeleteFault removes one fault; ErrNotFound if it does not exist.
	DeleteFault(ctx context.Context, id int64) error
}

// DataStore is small durable per-device key/value data for scripts.
type DataStore interface {
	// Data returns the value or ErrNotFound.
	Data(ctx context.Context, deviceID, key string) ([]byte, error)
	// SetData stores the value, durable on return. Backends cap the value
	// size (ErrInvalid beyond it).
	SetData(ctx context.Context, deviceID, key string, value []byte) error
	// DeleteData removes the key; removing an absent key is no error.
	DeleteData(ctx context.Context, deviceID, key string) error
}
