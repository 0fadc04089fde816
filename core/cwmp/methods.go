package cwmp

import "slices"

// Method names of every body type, and New to make an empty one by name.

// Method implements Body.
func (*Inform) Method() string { return "Inform" }

// Method implements Body.
func (*InformResponse) Method() string { return "InformResponse" }

// Method implements Body.
func (*TransferComplete) Method() string { return "TransferComplete" }

// Method implements Body.
func (*TransferCompleteResponse) Method() string { return "TransferCompleteResponse" }

// Method implements Body.
func (*AutonomousTransferComplete) Method() string { return "AutonomousTransferComplete" }

// Method implements Body.
func (*AutonomousTransferCompleteResponse) Method() string {
	return "AutonomousTransferCompleteResponse"
}

// Method implements Body.
func (*RequestDownload) Method() string { return "RequestDownload" }

// Method implements Body.
func (*RequestDownloadResponse) Method() string { return "RequestDownloadResponse" }

// Method implements Body.
func (*DUStateChangeComplete) Method() string { return "DUStateChangeComplete" }

// Method implements Body.
func (*DUStateChangeCompleteResponse) Method() string { return "DUStateChangeCompleteResponse" }

// Method implements Body.
func (*AutonomousDUStateChangeComplete) Method() string { return "AutonomousDUStateChangeComplete" }

// Method implements Body.
func (*AutonomousDUStateChangeCompleteResponse) Method() string {
	return "AutonomousDUStateChangeCompleteResponse"
}

// Method implements Body.
func (*Kicked) Method() string { return "Kicked" }

// Method implements Body.
func (*KickedResponse) Method() string { return "KickedResponse" }

// Method implements Body.
func (*GetRPCMethods) Method() string { return "GetRPCMethods" }

// Method implements Body.
func (*GetRPCMethodsResponse) Method() string { return "GetRPCMethodsResponse" }

// Method implements Body.
func (*GetParameterNames) Method() string { return "GetParameterNames" }

// Method implements Body.
func (*GetParameterNamesResponse) Method() string { return "GetParameterNamesResponse" }

// Method implements Body.
func (*GetParameterValues) Method() string { return "GetParameterValues" }

// Method implements Body.
func (*GetParameterValuesResponse) Method() string { return "GetParameterValuesResponse" }

// Method implements Body.
func (*SetParameterValues) Method() string { return "SetParameterValues" }

// Method implements Body.
func (*SetParameterValuesResponse) Method() string { return "SetParameterValuesResponse" }

// Method implements Body.
func (*GetParameterAttributes) Method() string { return "GetParameterAttributes" }

// Method implements Body.
func (*GetParameterAttributesResponse) Method() string { return "GetParameterAttributesResponse" }

// Method implements Body.
func (*SetParameterAttributes) Method() string { return "SetParameterAttributes" }

// Method implements Body.
func (*SetParameterAttributesResponse) Method() string { return "SetParameterAttributesResponse" }

// Method implements Body.
func (*AddObject) Method() string { return "AddObject" }

// Method implements Body.
func (*AddObjectResponse) Method() string { return "AddObjectResponse" }

// Method implements Body.
func (*DeleteObject) Method() string { return "DeleteObject" }

// Method implements Body.
func (*DeleteObjectResponse) Method() string { return "DeleteObjectResponse" }

// Method implements Body.
func (*Reboot) Method() string { return "Reboot" }

// Method implements Body.
func (*RebootResponse) Method() string { return "RebootResponse" }

// Method implements Body.
func (*FactoryReset) Method() string { return "FactoryReset" }

// Method implements Body.
func (*FactoryResetResponse) Method() string { return "FactoryResetResponse" }

// Method implements Body.
func (*Download) Method() string { return "Download" }

// Method implements Body.
func (*DownloadResponse) Method() string { return "DownloadResponse" }

// Method implements Body.
func (*Upload) Method() string { return "Upload" }

// Method implements Body.
func (*UploadResponse) Method() string { return "UploadResponse" }

// Method implements Body.
func (*ScheduleInform) Method() string { return "ScheduleInform" }

// Method implements Body.
func (*ScheduleInformResponse) Method() string { return "ScheduleInformResponse" }

// Method implements Body.
func (*ScheduleDownload) Method() string { return "ScheduleDownload" }

// Method implements Body.
func (*ScheduleDownloadResponse) Method() string { return "ScheduleDownloadResponse" }

// Method implements Body.
func (*CancelTransfer) Method() string { return "CancelTransfer" }

// Method implements Body.
func (*CancelTransferResponse) Method() string { return "CancelTransferResponse" }

// Method implements Body.
func (*GetQueuedTransfers) Method() string { return "GetQueuedTransfers" }

// Method implements Body.
func (*GetQueuedTransfersResponse) Method() string { return "GetQueuedTransfersResponse" }

// Method implements Body.
func (*GetAllQueuedTransfers) Method() string { return "GetAllQueuedTransfers" }

// Method implements Body.
func (*GetAllQueuedTransfersResponse) Method() string { return "GetAllQueuedTransfersResponse" }

// Method implements Body.
func (*ChangeDUState) Method() string { return "ChangeDUState" }

// Method implements Body.
func (*ChangeDUStateResponse) Method() string { return "ChangeDUStateResponse" }

// Method implements Body.
func (*GetOptions) Method() string { return "GetOptions" }

// Method implements Body.
func (*GetOptionsResponse) Method() string { return "GetOptionsResponse" }

// Method implements Body.
func (*SetVouchers) Method() string { return "SetVouchers" }

// Method implements Body.
func (*SetVouchersResponse) Method() string { return "SetVouchersResponse" }

var constructors = map[string]func() Body{
	"Inform":                                  func() Body { return new(Inform) },
	"InformResponse":                          func() Body { return new(InformResponse) },
	"TransferComplete":                        func() Body { return new(TransferComplete) },
	"TransferCompleteResponse":                func() Body { return new(TransferCompleteResponse) },
	"AutonomousTransferComplete":              func() Body { return new(AutonomousTransferComplete) },
	"AutonomousTransferCompleteResponse":      func() Body { return new(AutonomousTransferCompleteResponse) },
	"RequestDownload":                         func() Body { return new(RequestDownload) },
	"RequestDownloadResponse":                 func() Body { return new(RequestDownloadResponse) },
	"DUStateChangeComplete":                   func() Body { return new(DUStateChangeComplete) },
	"DUStateChangeCompleteResponse":           func() Body { return new(DUStateChangeCompleteResponse) },
	"AutonomousDUStateChangeComplete":         func() Body { return new(AutonomousDUStateChangeComplete) },
	"AutonomousDUStateChangeCompleteResponse": func() Body { return new(AutonomousDUStateChangeCompleteResponse) },
	"Kicked":                         func() Body { return new(Kicked) },
	"KickedResponse":                 func() Body { return new(KickedResponse) },
	"GetRPCMethods":                  func() Body { return new(GetRPCMethods) },
	"GetRPCMethodsResponse":          func() Body { return new(GetRPCMethodsResponse) },
	"GetParameterNames":              func() Body { return new(GetParameterNames) },
	"GetParameterNamesResponse":      func() Body { return new(GetParameterNamesResponse) },
	"GetParameterValues":             func() Body { return new(GetParameterValues) },
	"GetParameterValuesResponse":     func() Body { return new(GetParameterValuesResponse) },
	"SetParameterValues":             func() Body { return new(SetParameterValues) },
	"SetParameterValuesResponse":     func() Body { return new(SetParameterValuesResponse) },
	"GetParameterAttributes":         func() Body { return new(GetParameterAttributes) },
	"GetParameterAttributesResponse": func() Body { return new(GetParameterAttributesResponse) },
	"SetParameterAttributes":         func() Body { return new(SetParameterAttributes) },
	"SetParameterAttributesResponse": func() Body { return new(SetParameterAttributesResponse) },
	"AddObject":                      func() Body { return new(AddObject) },
	"AddObjectResponse":              func() Body { return new(AddObjectResponse) },
	"DeleteObject":                   func() Body { return new(DeleteObject) },
	"DeleteObjectResponse":           func() Body { return new(DeleteObjectResponse) },
	"Reboot":                         func() Body { return new(Reboot) },
	"RebootResponse":                 func() Body { return new(RebootResponse) },
	"FactoryReset":                   func() Body { return new(FactoryReset) },
	"FactoryResetResponse":           func() Body { return new(FactoryResetResponse) },
	"Download":                       func() Body { return new(Download) },
	"DownloadResponse":               func() Body { return new(DownloadResponse) },
	"Upload":                         func() Body { return new(Upload) },
	"UploadResponse":                 func() Body { return new(UploadResponse) },
	"ScheduleInform":                 func() Body { return new(ScheduleInform) },
	"ScheduleInformResponse":         func() Body { return new(ScheduleInformResponse) },
	"ScheduleDownload":               func() Body { return new(ScheduleDownload) },
	"ScheduleDownloadResponse":       func() Body { return new(ScheduleDownloadResponse) },
	"CancelTransfer":                 func() Body { return new(CancelTransfer) },
	"CancelTransferResponse":         func() Body { return new(CancelTransferResponse) },
	"GetQueuedTransfers":             func() Body { return new(GetQueuedTransfers) },
	"GetQueuedTransfersResponse":     func() Body { return new(GetQueuedTransfersResponse) },
	"GetAllQueuedTransfers":          func() Body { return new(GetAllQueuedTransfers) },
	"GetAllQueuedTransfersResponse":  func() Body { return new(GetAllQueuedTransfersResponse) },
	"ChangeDUState":                  func() Body { return new(ChangeDUState) },
	"ChangeDUStateResponse":          func() Body { return new(ChangeDUStateResponse) },
	"GetOptions":                     func() Body { return new(GetOptions) },
	"GetOptionsResponse":             func() Body { return new(GetOptionsResponse) },
	"SetVouchers":                    func() Body { return new(SetVouchers) },
	"SetVouchersResponse":            func() Body { return new(SetVouchersResponse) },
}

// New returns a new, empty body for a method name such as "Inform", or
// nil when the name is not a CWMP method. Fault is not a method.
func New(method string) Body {
	if c, ok := constructors[method]; ok {
		return c()
	}
	return nil
}

// Methods lists every method name New knows.
func Methods() []string {
	out := make([]string, 0, len(constructors))
	for n := range constructors {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ACSMethods are the methods an ACS answers when a CPE calls them; an ACS
// lists them in its GetRPCMethodsResponse.
var ACSMethods = []string{
	"Inform", "GetRPCMethods", "TransferComplete", "AutonomousTransferComplete",
	"RequestDownload", "DUStateChangeComplete", "AutonomousDUStateChangeComplete", "Kicked",
}
