package store

import (
	"context"
	"encoding/json"
	"time"
)

// APIStore is what the northbound API needs beyond Store: device queries
// on any parameter, bulk task creation, promoted parameters, API tokens,
// the audit log, file metadata and connection request outcomes. A backend
// implements it next to Store; it is a separate interface so that the
// session engine's dependencies stay as they are.
type APIStore interface {
	// QueryDevices returns one page of devices matching q; see DeviceQuery.
	QueryDevices(ctx context.Context, q DeviceQuery) (DevicePage, error)
	// AddTasks queues tasks for existing devices in one atomic write and
	// returns their IDs in input order. If any task is invalid or names an
	// unknown device, none is stored. Durable on return.
	AddTasks(ctx context.Context, tasks []Task) ([]int64, error)
	// TasksUpdatedSince returns the device's tasks whose Updated is at or
	// after since, in ID order.
	TasksUpdatedSince(ctx context.Context, deviceID string, since time.Time) ([]Task, error)
	// QueuedTaskCount counts tasks waiting for a session.
	QueuedTaskCount(ctx context.Context) (int64, error)

	// PromoteParam adds a parameter path to the indexed set, in state
	// building until BuildIndex has covered every device. Promoting a path
	// already promoted returns it unchanged.
	PromoteParam(ctx context.Context, name string) (PromotedParam, error)
	// DemoteParam drops a promoted path and its index; ErrNotFound if it
	// is not promoted.
	DemoteParam(ctx context.Context, name string) error
	// PromotedParams lists the promoted paths by name.
	PromotedParams(ctx context.Context) ([]PromotedParam, error)
	// BuildIndex advances pending index builds by up to n devices and
	// reports whether nothing is left to build.
	BuildIndex(ctx context.Context, n int) (done bool, err error)

	// AddToken stores a token (Hash set, ID ignored) and returns its ID.
	AddToken(ctx context.Context, t Token) (int64, error)
	// TokenByHash returns the token with this hash, revoked or not, or
	// ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// Tokens lists every token, newest first, without hashes.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks a token revoked; ErrNotFound if absent.
	RevokeToken(ctx context.Context, id int64) error
	// TouchToken records a use; queued, not waited for.
	TouchToken(ctx context.Context, id int64, at time.Time) error

	// RecordAudit queues an audit record.
	RecordAudit(ctx context.Context, r AuditRecord) error
	// Audit lists records newest first with the cursor for the next page.
	Audit(ctx context.Context, f AuditFilter) (page []AuditRecord, next int64, err error)
	// TrimAudit keeps the newest keep records.
	TrimAudit(ctx context.Context, keep int) error

	// AddFile stores file metadata. A file with the UploadKey of an
	// existing one replaces it, and the replaced record is returned so
	// that its bytes can be removed. Durable on return.
	AddFile(ctx context.Context, f FileMeta) (replaced *FileMeta, err error)
	// File returns one file's metadata or ErrNotFound.
	File(ctx context.Context, id string) (FileMeta, error)
	// Files lists files newest first with the cursor for the next page.
	Files(ctx context.Context, f FileFilter) (page []FileMeta, next int64, err error)
	// DeleteFile removes a file's metadata; ErrNotFound if absent.
	DeleteFile(ctx context.Context, id string) error
	// FileIDs calls fn with every stored file ID.
	FileIDs(ctx context.Context, fn func(id string) error) error

	// RecordConnReq stores the outcome of a connection request.
	RecordConnReq(ctx context.Context, r ConnReqRecord) error
	// ConnReqs lists a device's connection requests, newest first.
	ConnReqs(ctx context.Context, deviceID string, limit int) ([]ConnReqRecord, error)
	// ConfirmConnReq marks the device's newest connection request made at
	// or after since as confirmed at at (the device informed with
	// "6 CONNECTION REQUEST"). No request in that window is no error.
	ConfirmConnReq(ctx context.Context, deviceID string, since, at time.Time) error

	// Ping checks that the store can read and commit.
	Ping(ctx context.Context) error
}

// Op is a comparison in a device query condition.
type Op string

// Comparisons. Eq, Ne and Prefix compare text exactly. Lt, Le, Gt and Ge
// compare numerically when the condition's value is a number (and then
// match only devices whose value is a number too), and byte-wise
// otherwise.
const (
	OpEq     Op = "="
	OpNe     Op = "!="
	OpLt     Op = "<"
	OpLe     Op = "<="
	OpGt     Op = ">"
	OpGe     Op = ">="
	OpPrefix Op = "^="
)

// Ops lists the comparisons, longest spelling first, for parsers.
var Ops = []Op{OpNe, OpLe, OpGe, OpPrefix, OpEq, OpLt, OpGt}

// Cond is one condition of a device query. Field is a parameter path
// ("Device.DeviceInfo.SoftwareVersion") or one of DeviceFields. A device
// that lacks the parameter matches no condition on it, != included.
type Cond struct {
	Field string
	Op    Op
	Value string
}

// DeviceFields are the device summary fields a condition or sort may name
// besides parameter paths.
var DeviceFields = []string{"id", "oui", "productClass", "serialNumber", "manufacturer", "modelName",
	"softwareVersion", "hardwareVersion", "ip", "connectionRequestUrl", "cwmpVersion", "profile"}

// SortFields are the fields a device query may sort by: those with an
// index, so that a sorted page never sorts the fleet.
var SortFields = []string{"id", "lastInform", "softwareVersion", "productClass", "modelName", "serialNumber"}

// DeviceQuery selects, orders and pages devices.
//
// Conditions on summary fields, on the summary parameters that mirror them
// and on promoted parameters are answered from indexes. Any other
// parameter condition needs each candidate's tree: such a query reads at
// most ScanBudget trees per page and may return a short page (even an
// empty one) with a Next cursor; callers follow Next until it is empty.
type DeviceQuery struct {
	Conds []Cond
	// Tags must all be on the device.
	Tags []string
	// InformedBefore and InformedAfter bound LastInform strictly.
	InformedBefore, InformedAfter time.Time
	// Online, when set, keeps devices that are (or are not) online at Now:
	// informed within OnlineWindow when that is set, else within their own
	// PeriodicInformInterval plus 10% (at least 30 s) of slack, and within
	// OnlineFallback when the interval is unknown (default 1 h).
	Online         *bool
	OnlineWindow   time.Duration
	OnlineFallback time.Duration
	Now            time.Time
	// Sort is one of SortFields (default "id"); Desc reverses it. Ties are
	// broken by ID.
	Sort string
	Desc bool
	// Cursor is the Next of the previous page of the same query.
	Cursor string
	// Limit caps the page; 0 means 100, at most 10000.
	Limit int
	// ScanBudget caps the trees read for conditions that need them; 0
	// means 2000.
	ScanBudget int
	// Params selects parameters to return with each device: exact names,
	// or prefixes ending in "."; "" alone means the whole tree.
	Params []string
}

// DevicePage is one page of a device query.
type DevicePage struct {
	Devices []DeviceRow
	// Next continues the query; empty after the last page.
	Next string
	// Scanned counts the trees read to evaluate conditions.
	Scanned int
}

// DeviceRow is a device with what the query asked for.
type DeviceRow struct {
	Device
	// InformInterval is the device's PeriodicInformInterval; 0 when
	// unknown or disabled.
	InformInterval time.Duration
	// Params holds the selected parameters, nil when none were asked for.
	Params ParamTree
}

// Online reports whether a device counts as online at now by the rule of
// DeviceQuery.Online.
func (r DeviceRow) Online(now time.Time, window, fallback time.Duration) bool {
	if r.LastInform.IsZero() {
		return false
	}
	return now.Sub(r.LastInform) <= OnlineDeadline(r.InformInterval, window, fallback)
}

// OnlineDeadline is how long after its last Inform a device still counts
// as online.
func OnlineDeadline(interval, window, fallback time.Duration) time.Duration {
	if window > 0 {
		return window
	}
	if interval <= 0 {
		if fallback <= 0 {
			fallback = time.Hour
		}
		return fallback
	}
	return interval + max(interval/10, 30*time.Second)
}

// PromotedParam is a parameter path kept in an index for queries.
type PromotedParam struct {
	Name  string
	Ready bool // false while the index is being built
	// Progress is the share of devices indexed, 0 to 1.
	Progress float64
	Created  time.Time
}

// Token is an API bearer token. Only the SHA-256 of its secret is kept.
type Token struct {
	ID        int64
	Name      string
	Role      string
	Hash      []byte
	Created   time.Time
	CreatedBy string
	Expires   time.Time // zero: never
	LastUsed  time.Time
	Revoked   time.Time // zero: valid
}

// AuditRecord is one state-changing API call.
type AuditRecord struct {
	ID       int64
	Time     time.Time
	TokenID  int64
	Actor    string
	Role     string
	Method   string
	Path     string
	Action   string
	Target   string
	Status   int
	RemoteIP string
	Detail   json.RawMessage
}

// AuditFilter selects audit records, newest first.
type AuditFilter struct {
	Actor  string
	Since  time.Time
	Before int64 // cursor: ID of the last record of the previous page
	Limit  int
}

// File sources.
const (
	FileFromAPI    = "api"
	FileFromDevice = "device"
)

// FileMeta describes a stored file. The bytes live outside the database.
type FileMeta struct {
	ID           string
	Name         string
	Type         string // TR-069 FileType, e.g. "1 Firmware Upgrade Image"
	Version      string
	ProductClass string
	OUI          string
	Size         int64
	SHA256       string // hex
	ContentType  string
	Source       string // FileFromAPI or FileFromDevice
	DeviceID     string // the uploading device, for device files
	CommandKey   string // the Upload task's command key, when known
	UploadKey    string // unique per signed upload URL
	Created      time.Time
	CreatedBy    string
}

// FileFilter selects files, newest first.
type FileFilter struct {
	Name         string // exact
	Type         string
	DeviceID     string
	ProductClass string
	Source       string
	Before       int64 // cursor
	Limit        int
}

// ConnReqRecord is the outcome of one connection request.
type ConnReqRecord struct {
	DeviceID   string
	Time       time.Time
	Result     string
	HTTPStatus int
	Attempts   int
	Error      string
	Duration   time.Duration
	// Confirmed is when the device opened the session the request asked
	// for; zero until then.
	Confirmed time.Time
}
