package store

import (
	"encoding/json"
	"time"
)

// Device is one CPE as the ACS knows it: identity from the Inform, summary
// columns promoted from its parameters for filtering, and operator tags.
type Device struct {
	// ID is OUI-ProductClass-SerialNumber as built by DeviceIDFrom. It never
	// changes once the device exists.
	ID string

	OUI, ProductClass, SerialNumber string
	Manufacturer, ModelName         string
	SoftwareVersion                 string
	HardwareVersion                 string

	// IP is the source address of the device's last session.
	IP                   string
	ConnectionRequestURL string
	// CWMPVersion is the protocol version negotiated in the last session
	// ("1.0" … "1.4"); Namespace is the cwmp namespace URI the device used.
	CWMPVersion string
	Namespace   string

	FirstInform, LastInform time.Time
	// LastBoot and LastBootstrap are the times of the last Inform that
	// carried "1 BOOT" and "0 BOOTSTRAP".
	LastBoot, LastBootstrap time.Time

	// Tags are sorted and unique. UpsertDevice only adds tags; use
	// RemoveTags to take them away.
	Tags []string
	// Profile names the quirk profile applied to the device; empty means
	// the default behaviour.
	Profile string
}

// DeviceFilter selects devices for Store.Devices. Zero fields do not
// filter. Results come in ID order.
type DeviceFilter struct {
	Tag             string
	IDPrefix        string
	OUI             string
	ProductClass    string
	SoftwareVersion string // exact match
	// InformedBefore and InformedAfter bound LastInform, both strictly; a
	// device that never informed matches neither.
	InformedBefore time.Time
	InformedAfter  time.Time
	// After is the cursor: the ID of the last device of the previous page.
	After string
	// Limit caps the page; 0 means a default of 100. Backends cap it at
	// 10000.
	Limit int
}

// Writable says whether a parameter may be set: WritableUnknown until a
// GetParameterNames has told.
const (
	WritableUnknown int8 = -1
	WritableNo      int8 = 0
	WritableYes     int8 = 1
)

// Param is one node of a device's parameter tree. Object nodes end in ".".
type Param struct {
	Name  string
	Value string
	// Type is the TR-106 type as cwmp.Type spells it ("unsignedInt");
	// empty when unknown.
	Type string
	// Writable is WritableUnknown, WritableNo or WritableYes. Note that the
	// zero value is WritableNo: build value-only upserts with ValueParam so
	// that a refresh does not overwrite what GetParameterNames learned.
	Writable int8
	Object   bool
	// ReadAt is when the value was last read from the device (a re-read
	// that finds it unchanged may leave it up to the store's read-time
	// resolution older; see MergeOptions); SetAt when the ACS last set it
	// successfully.
	ReadAt, SetAt time.Time
}

// ValueParam is an upsert for a value read from the device at t: it carries
// value and type and leaves the stored writable flag alone.
func ValueParam(name, value, typ string, t time.Time) Param {
	return Param{Name: name, Value: value, Type: typ, Writable: WritableUnknown, ReadAt: t}
}

// NameParam is an upsert for what GetParameterNames reports: the node
// exists and is (not) writable. It leaves a stored value alone.
func NameParam(name string, writable bool) Param {
	w := WritableNo
	if writable {
		w = WritableYes
	}
	return Param{Name: name, Writable: w, Object: len(name) > 0 && name[len(name)-1] == '.'}
}

// SessionRecord is one finished CWMP session in a device's history.
type SessionRecord struct {
	// ID is chosen by the session engine; a backend generates one when it
	// is empty.
	ID       string
	DeviceID string
	Started  time.Time
	Ended    time.Time
	// Events are the event codes of the session's Inform.
	Events []string
	// RPCs counts ACS-to-CPE calls made in the session.
	RPCs int
	// Outcome is a short word ("ok", "timeout", "fault", "error").
	Outcome  string
	Error    string
	RemoteIP string
}

// EventRecord is one Inform event in a device's history.
type EventRecord struct {
	DeviceID   string
	Time       time.Time
	Code       string
	CommandKey string
	SessionID  string
}

// TaskState is where a task is in its life cycle.
type TaskState string

// Task states. Done, cancelled and expired are final.
const (
	StateQueued    TaskState = "queued"
	StateRunning   TaskState = "running"
	StateDone      TaskState = "done"
	StateFault     TaskState = "fault"
	StateExpired   TaskState = "expired"
	StateCancelled TaskState = "cancelled"
	// StateWaitingTransfer: a Download or Upload the device acknowledged
	// with Status 1; a TransferComplete with the task's CommandKey ends it.
	StateWaitingTransfer TaskState = "waiting-transfer"
)

// Valid reports whether s is one of the task states.
func (s TaskState) Valid() bool {
	switch s {
	case StateQueued, StateRunning, StateDone, StateFault, StateExpired, StateCancelled, StateWaitingTransfer:
		return true
	}
	return false
}

// Final reports whether no transition leaves s.
func (s TaskState) Final() bool {
	return s == StateDone || s == StateCancelled || s == StateExpired
}

// transitions lists, for each state, the states a task may move to. A task
// in fault can be queued again (an operator's retry); a running task goes
// back to queued when its session ends before the device answered.
var transitions = map[TaskState][]TaskState{
	StateQueued:          {StateRunning, StateCancelled, StateExpired},
	StateRunning:         {StateQueued, StateDone, StateFault, StateWaitingTransfer, StateCancelled},
	StateWaitingTransfer: {StateDone, StateFault, StateQueued, StateCancelled, StateExpired},
	StateFault:           {StateQueued, StateCancelled},
}

// CanTransition reports whether a task may move from one state to another.
// Staying in the same state is not a transition.
func CanTransition(from, to TaskState) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Task is a durable request to run one CWMP method (or "refresh",
// "connectionRequest") on a device at its next session.
type Task struct {
	ID       int64
	DeviceID string
	// Kind is a CWMP method name ("SetParameterValues", "Download") or one
	// of KindRefresh, KindConnectionRequest and KindPlugin.
	Kind string
	// Args is the cwmp request struct as JSON.
	Args        json.RawMessage
	State       TaskState
	Attempts    int
	MaxAttempts int
	// CommandKey matches a later TransferComplete or "M" event to the
	// task; keep it unique per device.
	CommandKey string
	// Expires: a task still queued at this time is expired instead of run.
	// Zero means never.
	Expires time.Time
	Created time.Time
	Updated time.Time
	Result  json.RawMessage
	Fault   *TaskFault
}

// Task kinds that are no CWMP method. A KindPlugin task runs a plugin
// function in the device's session (Args: hook.PluginTask as JSON).
const (
	KindRefresh           = "refresh"
	KindConnectionRequest = "connectionRequest"
	KindPlugin            = "plugin"
)

// TaskFault is why a task failed: a CWMP fault code and string, or an ACS
// code (8000-8899 range or 0 for store-side reasons).
type TaskFault struct {
	Code    int
	Message string
	Detail  json.RawMessage
}

// TaskUpdate moves a task to another state.
type TaskUpdate struct {
	ID    int64
	State TaskState
	// From, when set, makes the update a compare-and-set: it applies only
	// if the task is in this state now, and fails with ErrConflict
	// otherwise.
	From TaskState
	// Result and Fault replace the stored ones when non-nil.
	Result json.RawMessage
	Fault  *TaskFault
}

// TaskFilter selects tasks for Store.Tasks. Results come in ID order.
type TaskFilter struct {
	DeviceID string
	State    TaskState
	// After is the cursor: the ID of the last task of the previous page.
	After int64
	// Limit caps the page; 0 means 100.
	Limit int
}

// FaultRecord is one fault a device or the ACS reported.
type FaultRecord struct {
	ID        int64
	DeviceID  string
	SessionID string
	// TaskID is the task whose RPC the device faulted; 0 when no task was
	// involved or, for faults stored before tasks were recorded, unknown.
	TaskID  int64
	Time    time.Time
	Code    int
	Message string
	Detail  json.RawMessage
}

// FaultFilter selects faults for Store.Faults. Results come newest first.
type FaultFilter struct {
	DeviceID string // empty: all devices
	TaskID   int64  // 0: faults of any task or none
	// Before is the cursor: the ID of the last fault of the previous page.
	Before int64
	Limit  int // 0 means 100
}

// SessionWrite is everything one session learned, written atomically at the
// session's end.
type SessionWrite struct {
	// Device is upserted (see Store.UpsertDevice); its ID is required.
	Device Device
	// Params and DeleteParamPrefixes are merged into the tree as by
	// Store.UpdateParams.
	Params              []Param
	DeleteParamPrefixes []string
	// Session, Events and Faults are appended to Device's history; their
	// DeviceID fields are ignored.
	Session *SessionRecord
	Events  []EventRecord
	Faults  []FaultRecord
}
