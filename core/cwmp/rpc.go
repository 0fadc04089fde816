package cwmp

import "time"

// ---- Methods the CPE calls on the ACS ----

// DeviceID identifies a device; its ID is OUI-ProductClass-SerialNumber.
type DeviceID struct {
	Manufacturer string
	OUI          string
	ProductClass string
	SerialNumber string
}

// Inform opens every session.
type Inform struct {
	DeviceID      DeviceID
	Events        []EventStruct
	MaxEnvelopes  uint32
	CurrentTime   time.Time
	RetryCount    uint32
	ParameterList []ParameterValue
}

// InformResponse answers Inform; MaxEnvelopes is always 1.
type InformResponse struct{ MaxEnvelopes uint32 }

// TransferComplete reports the end of a Download, Upload or ScheduleDownload
// the ACS asked for.
type TransferComplete struct {
	CommandKey   string
	FaultStruct  FaultStruct
	StartTime    time.Time
	CompleteTime time.Time
}

// TransferCompleteResponse answers TransferComplete.
type TransferCompleteResponse struct{}

// AutonomousTransferComplete reports a transfer the ACS did not ask for.
type AutonomousTransferComplete struct {
	AnnounceURL    string
	TransferURL    string
	IsDownload     bool
	FileType       string
	FileSize       uint32
	TargetFileName string
	FaultStruct    FaultStruct
	StartTime      time.Time
	CompleteTime   time.Time
}

// AutonomousTransferCompleteResponse answers AutonomousTransferComplete.
type AutonomousTransferCompleteResponse struct{}

// ArgStruct is a name/value argument of RequestDownload.
type ArgStruct struct{ Name, Value string }

// RequestDownload asks the ACS to start a Download of a file type.
type RequestDownload struct {
	FileType    string
	FileTypeArg []ArgStruct
}

// RequestDownloadResponse answers RequestDownload.
type RequestDownloadResponse struct{}

// DUFaultStruct is the outcome of one deployment-unit operation.
type DUFaultStruct struct {
	FaultCode   FaultCode
	FaultString string
}

// OpResult is an OpResultStruct of DUStateChangeComplete; OperationPerformed
// is set only in AutonomousDUStateChangeComplete.
type OpResult struct {
	UUID                 string
	DeploymentUnitRef    string
	Version              string
	CurrentState         string
	Resolved             bool
	ExecutionUnitRefList string
	StartTime            time.Time
	CompleteTime         time.Time
	Fault                DUFaultStruct
	OperationPerformed   string
}

// DUStateChangeComplete reports the end of a ChangeDUState.
type DUStateChangeComplete struct {
	Results    []OpResult
	CommandKey string
}

// DUStateChangeCompleteResponse answers DUStateChangeComplete.
type DUStateChangeCompleteResponse struct{}

// AutonomousDUStateChangeComplete reports deployment-unit changes the ACS
// did not ask for.
type AutonomousDUStateChangeComplete struct{ Results []OpResult }

// AutonomousDUStateChangeCompleteResponse answers
// AutonomousDUStateChangeComplete.
type AutonomousDUStateChangeCompleteResponse struct{}

// Kicked is the deprecated web-kick RPC.
type Kicked struct{ Command, Referer, Arg, Next string }

// KickedResponse answers Kicked.
type KickedResponse struct{ NextURL string }

// ---- Methods the ACS calls on the CPE (GetRPCMethods goes both ways) ----

// GetRPCMethods asks the other side which methods it supports.
type GetRPCMethods struct{}

// GetRPCMethodsResponse lists method names.
type GetRPCMethodsResponse struct{ MethodList []string }

// GetParameterNames lists the names under ParameterPath ("" is the root);
// NextLevel limits the answer to the immediate children.
type GetParameterNames struct {
	ParameterPath string
	NextLevel     bool
}

// GetParameterNamesResponse answers GetParameterNames.
type GetParameterNamesResponse struct{ ParameterList []ParameterInfo }

// GetParameterValues reads values; a name ending in "." is a partial path.
type GetParameterValues struct{ ParameterNames []string }

// GetParameterValuesResponse answers GetParameterValues.
type GetParameterValuesResponse struct{ ParameterList []ParameterValue }

// SetParameterValues writes values atomically.
type SetParameterValues struct {
	ParameterList []ParameterValue
	ParameterKey  string
}

// SetParameterValuesResponse answers SetParameterValues: Status 0 means
// applied, 1 means committed and applied later (typically after a reboot).
type SetParameterValuesResponse struct{ Status int }

// ParameterAttribute is a ParameterAttributeStruct.
type ParameterAttribute struct {
	Name         string
	Notification int
	AccessList   []string
}

// GetParameterAttributes reads notification and access attributes.
type GetParameterAttributes struct{ ParameterNames []string }

// GetParameterAttributesResponse answers GetParameterAttributes.
type GetParameterAttributesResponse struct{ ParameterList []ParameterAttribute }

// SetParameterAttributesStruct changes one parameter's attributes.
type SetParameterAttributesStruct struct {
	Name               string
	NotificationChange bool
	Notification       int
	AccessListChange   bool
	AccessList         []string
}

// SetParameterAttributes changes attributes.
type SetParameterAttributes struct {
	ParameterList []SetParameterAttributesStruct
}

// SetParameterAttributesResponse answers SetParameterAttributes.
type SetParameterAttributesResponse struct{}

// AddObject creates an instance of a multi-instance object; ObjectName ends
// in ".".
type AddObject struct{ ObjectName, ParameterKey string }

// AddObjectResponse answers AddObject.
type AddObjectResponse struct {
	InstanceNumber uint32
	Status         int
}

// DeleteObject deletes an object instance.
type DeleteObject struct{ ObjectName, ParameterKey string }

// DeleteObjectResponse answers DeleteObject.
type DeleteObjectResponse struct{ Status int }

// Reboot reboots the CPE; it comes back with "1 BOOT" and "M Reboot".
type Reboot struct{ CommandKey string }

// RebootResponse answers Reboot.
type RebootResponse struct{}

// FactoryReset resets the CPE to factory defaults.
type FactoryReset struct{}

// FactoryResetResponse answers FactoryReset.
type FactoryResetResponse struct{}

// Standard file types of Download and Upload. Vendor types have the form
// "X <OUI or domain> <name>".
const (
	FileFirmware            = "1 Firmware Upgrade Image"
	FileWebContent          = "2 Web Content"
	FileVendorConfig        = "3 Vendor Configuration File"
	FileToneFile            = "4 Tone File"
	FileRingerFile          = "5 Ringer File"
	FileUploadVendorConfig  = "1 Vendor Configuration File"
	FileUploadVendorLog     = "2 Vendor Log File"
	FileUploadConfigPrefix  = "3 Vendor Configuration File" // "… <instance>" in 1.2
	FileUploadLogFilePrefix = "4 Vendor Log File"           // "… <instance>" in 1.2
)

// Download asks the CPE to fetch a file.
type Download struct {
	CommandKey     string
	FileType       string
	URL            string
	Username       string
	Password       string
	FileSize       uint32
	TargetFileName string
	DelaySeconds   uint32
	SuccessURL     string
	FailureURL     string
}

// DownloadResponse answers Download: Status 0 means done (times set),
// 1 means a TransferComplete with the CommandKey will follow.
type DownloadResponse struct {
	Status       int
	StartTime    time.Time
	CompleteTime time.Time
}

// Upload asks the CPE to send a file.
type Upload struct {
	CommandKey   string
	FileType     string
	URL          string
	Username     string
	Password     string
	DelaySeconds uint32
}

// UploadResponse answers Upload, with DownloadResponse's Status meaning.
type UploadResponse struct {
	Status       int
	StartTime    time.Time
	CompleteTime time.Time
}

// ScheduleInform asks for an Inform DelaySeconds from now with
// "3 SCHEDULED" and "M ScheduleInform".
type ScheduleInform struct {
	DelaySeconds uint32
	CommandKey   string
}

// ScheduleInformResponse answers ScheduleInform.
type ScheduleInformResponse struct{}

// TimeWindow is a TimeWindowStruct of ScheduleDownload.
type TimeWindow struct {
	WindowStart uint32
	WindowEnd   uint32
	WindowMode  string // "1 At Any Time", "2 Immediately", "3 When Idle", "4 Confirmation Needed"
	UserMessage string
	MaxRetries  int32
}

// ScheduleDownload asks for a download within time windows (1.2).
type ScheduleDownload struct {
	CommandKey     string
	FileType       string
	URL            string
	Username       string
	Password       string
	FileSize       uint32
	TargetFileName string
	TimeWindowList []TimeWindow
}

// ScheduleDownloadResponse answers ScheduleDownload.
type ScheduleDownloadResponse struct{}

// CancelTransfer cancels a queued transfer by CommandKey (1.2).
type CancelTransfer struct{ CommandKey string }

// CancelTransferResponse answers CancelTransfer.
type CancelTransferResponse struct{}

// QueuedTransfer is a QueuedTransferStruct. State 1 not yet started,
// 2 in progress, 3 completed.
type QueuedTransfer struct {
	CommandKey string
	State      int
}

// GetQueuedTransfers lists the transfers the ACS queued (deprecated).
type GetQueuedTransfers struct{}

// GetQueuedTransfersResponse answers GetQueuedTransfers.
type GetQueuedTransfersResponse struct{ TransferList []QueuedTransfer }

// AllQueuedTransfer is an AllQueuedTransferStruct.
type AllQueuedTransfer struct {
	CommandKey     string
	State          int
	IsDownload     bool
	FileType       string
	FileSize       uint32
	TargetFileName string
}

// GetAllQueuedTransfers lists every queued transfer (1.1).
type GetAllQueuedTransfers struct{}

// GetAllQueuedTransfersResponse answers GetAllQueuedTransfers.
type GetAllQueuedTransfersResponse struct{ TransferList []AllQueuedTransfer }

// DUOperation kinds of ChangeDUState.
const (
	DUInstall   = "InstallOpStruct"
	DUUpdate    = "UpdateOpStruct"
	DUUninstall = "UninstallOpStruct"
)

// DUOperation is one operation of ChangeDUState; Kind selects which fields
// apply (Install: URL, UUID, Username, Password, ExecutionEnvRef; Update:
// UUID, Version, URL, Username, Password; Uninstall: UUID, Version,
// ExecutionEnvRef).
type DUOperation struct {
	Kind            string
	URL             string
	UUID            string
	Username        string
	Password        string
	ExecutionEnvRef string
	Version         string
}

// ChangeDUState installs, updates or removes deployment units (1.2).
type ChangeDUState struct {
	Operations []DUOperation
	CommandKey string
}

// ChangeDUStateResponse answers ChangeDUState.
type ChangeDUStateResponse struct{}

// GetOptions reads option vouchers (deprecated); "" asks for all.
type GetOptions struct{ OptionName string }

// OptionStruct describes one option.
type OptionStruct struct {
	OptionName     string
	VoucherSN      uint32
	State          uint32
	Mode           int
	StartDate      time.Time
	ExpirationDate time.Time // zero when absent
	IsTransferable bool
}

// GetOptionsResponse answers GetOptions.
type GetOptionsResponse struct{ OptionList []OptionStruct }

// SetVouchers installs signed option vouchers (base64, deprecated).
type SetVouchers struct{ VoucherList []string }

// SetVouchersResponse answers SetVouchers.
type SetVouchersResponse struct{}
