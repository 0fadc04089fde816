package sdk

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event codes. Vendor events ("X 000C42 Alarm") and method events
// ("M Reboot") are written as the device sends them.
const (
	EventBootstrap           = "0 BOOTSTRAP"
	EventBoot                = "1 BOOT"
	EventPeriodic            = "2 PERIODIC"
	EventScheduled           = "3 SCHEDULED"
	EventValueChange         = "4 VALUE CHANGE"
	EventConnectionRequest   = "6 CONNECTION REQUEST"
	EventTransferComplete    = "7 TRANSFER COMPLETE"
	EventDiagnosticsComplete = "8 DIAGNOSTICS COMPLETE"
	EventMReboot             = "M Reboot"
	EventMDownload           = "M Download"
	EventMUpload             = "M Upload"
	// EventInform is no event code: a handler registered for it runs in
	// every session.
	EventInform = "inform"
)

// Standard CWMP file types.
const (
	FileFirmware           = "1 Firmware Upgrade Image"
	FileVendorConfig       = "3 Vendor Configuration File"
	FileUploadVendorConfig = "1 Vendor Configuration File"
	FileUploadVendorLog    = "2 Vendor Log File"
)

// Device identifies the device of a session.
type Device struct {
	// ID is OUI-ProductClass-SerialNumber, the ACS's key for the device.
	ID           string
	Manufacturer string
	OUI          string
	ProductClass string
	SerialNumber string
	// New is set in the first session the ACS has with the device.
	New bool
	// Root is the data-model root, "Device." or "InternetGatewayDevice.".
	Root string
	// CWMPVersion is the protocol version of the session ("1.0" … "1.4").
	CWMPVersion string
}

// Event is one entry of the Inform's event list.
type Event struct {
	Code       string
	CommandKey string
}

// ParameterValue is a parameter name with its value. Type is the TR-106
// type ("string", "unsignedInt", "boolean", …); leave it empty to let the
// ACS take the type from the data model.
type ParameterValue struct {
	Name  string
	Value string
	Type  string
}

// String makes a string value.
func String(name, v string) ParameterValue {
	return ParameterValue{Name: name, Value: v, Type: "string"}
}

// Bool makes a boolean value.
func Bool(name string, v bool) ParameterValue {
	return ParameterValue{Name: name, Value: strconv.FormatBool(v), Type: "boolean"}
}

// Uint makes an unsignedInt value.
func Uint(name string, v uint32) ParameterValue {
	return ParameterValue{Name: name, Value: strconv.FormatUint(uint64(v), 10), Type: "unsignedInt"}
}

// Int makes an int value.
func Int(name string, v int32) ParameterValue {
	return ParameterValue{Name: name, Value: strconv.FormatInt(int64(v), 10), Type: "int"}
}

// Value makes a value typed from the data model.
func Value(name, v string) ParameterValue { return ParameterValue{Name: name, Value: v} }

// ParameterInfo is one answer of GetParameterNames. Object names end in ".".
type ParameterInfo struct {
	Name     string
	Writable bool
}

// ParameterAttribute is one answer of GetParameterAttributes.
type ParameterAttribute struct {
	Name         string
	Notification int
	AccessList   []string
}

// SetParameterAttribute changes the attributes of one parameter.
type SetParameterAttribute struct {
	Name               string
	NotificationChange bool
	Notification       int
	AccessListChange   bool
	AccessList         []string
}

// Param is what the ACS knows of a parameter without asking the device.
type Param struct {
	Name  string
	Value string
	Type  string
	// Writable is nil while no GetParameterNames has told.
	Writable *bool
	Object   bool
	// ReadAt is when the value was last read from the device; SetAt when
	// the ACS last set it.
	ReadAt, SetAt time.Time
}

// DownloadRequest asks the device to fetch a file.
type DownloadRequest struct {
	// CommandKey matches the TransferComplete; empty lets the host choose
	// one, returned in TransferResult.
	CommandKey     string
	FileType       string
	URL            string
	Username       string
	Password       string
	FileSize       uint32
	TargetFileName string
	DelaySeconds   uint32
}

// UploadRequest asks the device to send a file.
type UploadRequest struct {
	CommandKey   string
	FileType     string
	URL          string
	Username     string
	Password     string
	DelaySeconds uint32
}

// TransferResult is the device's answer to Download or Upload: Status 0
// means done (times set), 1 means a TransferComplete with CommandKey will
// follow, usually in a later session.
type TransferResult struct {
	CommandKey   string
	Status       int
	StartTime    time.Time
	CompleteTime time.Time
}

// Fault is a CWMP fault the device answered with. Errors from Session
// methods are *Fault when the device refused the call.
type Fault struct {
	Code            uint32
	Message         string
	ParameterFaults []ParameterFault
}

// ParameterFault names one parameter a SetParameterValues failed on.
type ParameterFault struct {
	Name    string
	Code    uint32
	Message string
}

func (f *Fault) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CWMP fault %d", f.Code)
	if f.Message != "" {
		b.WriteString(": " + f.Message)
	}
	for _, p := range f.ParameterFaults {
		fmt.Fprintf(&b, "; %s: %d %s", p.Name, p.Code, p.Message)
	}
	return b.String()
}

// IsFault reports whether err is a device fault with the code.
func IsFault(err error, code uint32) bool {
	var f *Fault
	return errors.As(err, &f) && f.Code == code
}

// Errors of Session methods that are not device faults.
var (
	// ErrSessionEnded: the device can no longer be reached in this
	// session (it timed out, disconnected, or the handler's call is over).
	// A handler should return it; the host ends the session.
	ErrSessionEnded = errors.New("session ended")
	// ErrNotNow: device calls are not possible while the CPE is still
	// sending its own requests (in a CPERequestHandler).
	ErrNotNow = errors.New("device calls are not possible while the CPE is sending requests")
	// ErrUnsupported: the host does not offer the operation.
	ErrUnsupported = errors.New("not supported by this host")
	// ErrNoSession: the function was called outside a session and needs
	// one.
	ErrNoSession = errors.New("this function needs a live session with the device")
)

// FileInfo describes a file in the ACS's file store.
type FileInfo struct {
	// ID is the host's id of the file, set by the host.
	ID string
	// Name is the file's name, without path separators: devices see it as
	// the last segment of the file's URL, which is how RouterOS tells an
	// ".alter" script from a full configuration.
	Name string
	// FileType is the CWMP file type; the ACS's file store requires one.
	FileType    string
	ContentType string
	Size        int64
	SHA256      string
	// DeviceID is set for files that belong to one device (uploads).
	DeviceID string
	// Version, ProductClass and OUI say which firmware or devices the
	// file is for.
	Version      string
	ProductClass string
	OUI          string
	// Metadata is extra information; hosts may not keep all of it.
	Metadata map[string]string
	Created  time.Time
}

// FileQuery selects files for Files.List; empty fields match all.
type FileQuery struct {
	NamePrefix   string
	FileType     string
	DeviceID     string
	Version      string
	ProductClass string
}

// FileType describes a vendor file type a plugin knows.
type FileType struct {
	// Name is the CWMP FileType ("X MIKROTIK Factory Configuration File").
	Name string
	// Download and Upload say which transfers the type is used in.
	Download, Upload bool
	// Extension is the file name extension of such files (".rsc").
	Extension   string
	ContentType string
	Description string
}

// UploadedFile is a file a device uploaded, as FileTypeHandler sees it.
type UploadedFile struct {
	Device   Device
	FileType string
	Name     string
	Size     int64
	// Head is the start of the file, up to the host's inspection limit
	// (1 MiB by default).
	Head []byte
}

// UploadResult is what a FileTypeHandler says about an uploaded file.
type UploadResult struct {
	// Name, when set, is the name to store the file under.
	Name     string
	Metadata map[string]string
}

// Profile holds device-profile quirk switches, applied by the session
// engine to the devices the profile matches. Match fields are compared
// case-insensitively; empty fields match anything. Profiles an operator
// configures win over those of plugins.
type Profile struct {
	Name         string
	Manufacturer string
	OUI          string
	ProductClass string

	// NumericBooleans writes booleans as 1/0 instead of true/false.
	NumericBooleans bool
	// NumericNextLevel writes GetParameterNames' NextLevel as 1/0.
	NumericNextLevel bool
	// DateTimeMillis writes dateTime values with milliseconds.
	DateTimeMillis bool
	// EmptyBodyTermination ends sessions the pre-Amendment-1 way.
	EmptyBodyTermination bool
	// ExchangeTimeout bounds the wait for each of the device's POSTs.
	ExchangeTimeout time.Duration
	// GPVBatchSize is how many names one GetParameterValues asks for.
	GPVBatchSize int
	// TransferEndsSession lists file types after whose Download the device
	// drops the session and reboots, so that a timeout then is expected.
	TransferEndsSession []string
	// MaxCWMPVersion caps the protocol version used with the device.
	MaxCWMPVersion string
}

// CredentialsRequest asks a CredentialProvider for a device's credentials.
type CredentialsRequest struct {
	// Kind is CredentialsCPE or CredentialsConnectionRequest.
	Kind string
	// Username is what the device sent, for CredentialsCPE.
	Username string
	Device   Device
	RemoteIP string
}

// Credential kinds.
const (
	// CredentialsCPE: the password the ACS expects from a device that
	// authenticates with Username.
	CredentialsCPE = "cpe"
	// CredentialsConnectionRequest: what the ACS presents to the device's
	// connection request URL.
	CredentialsConnectionRequest = "connection-request"
)

// Credentials is a username and password.
type Credentials struct {
	Username string
	Password string
}

// CPERequest is a request the CPE sent in the session:
// *TransferComplete, *AutonomousTransferComplete or *RequestDownload.
type CPERequest interface{ cpeRequest() }

// TransferComplete reports the end of a transfer the ACS asked for. Fault
// is nil on success.
type TransferComplete struct {
	CommandKey   string
	Fault        *Fault
	StartTime    time.Time
	CompleteTime time.Time
}

// AutonomousTransferComplete reports a transfer the ACS did not ask for.
type AutonomousTransferComplete struct {
	AnnounceURL    string
	TransferURL    string
	IsDownload     bool
	FileType       string
	FileSize       uint32
	TargetFileName string
	Fault          *Fault
	StartTime      time.Time
	CompleteTime   time.Time
}

// RequestDownload is the CPE asking for a file of a type.
type RequestDownload struct {
	FileType string
	Args     map[string]string
}

func (*TransferComplete) cpeRequest()           {}
func (*AutonomousTransferComplete) cpeRequest() {}
func (*RequestDownload) cpeRequest()            {}
