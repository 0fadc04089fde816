package cwmp

import (
	"strconv"
)

// FaultCode is a CWMP fault code: 8000–8899 for faults the ACS returns,
// 9000–9899 for faults the CPE returns.
type FaultCode uint32

// ACS fault codes.
const (
	FaultACSMethodNotSupported  FaultCode = 8000
	FaultACSRequestDenied       FaultCode = 8001
	FaultACSInternalError       FaultCode = 8002
	FaultACSInvalidArguments    FaultCode = 8003
	FaultACSResourcesExceeded   FaultCode = 8004
	FaultACSRetryRequest        FaultCode = 8005
	FaultACSVersionIncompatible FaultCode = 8006
)

// CPE fault codes.
const (
	FaultMethodNotSupported      FaultCode = 9000
	FaultRequestDenied           FaultCode = 9001
	FaultInternalError           FaultCode = 9002
	FaultInvalidArguments        FaultCode = 9003
	FaultResourcesExceeded       FaultCode = 9004
	FaultInvalidParameterName    FaultCode = 9005
	FaultInvalidParameterType    FaultCode = 9006
	FaultInvalidParameterValue   FaultCode = 9007
	FaultNonWritableParameter    FaultCode = 9008
	FaultNotificationRejected    FaultCode = 9009
	FaultDownloadFailure         FaultCode = 9010
	FaultUploadFailure           FaultCode = 9011
	FaultTransferAuthFailure     FaultCode = 9012
	FaultUnsupportedProtocol     FaultCode = 9013
	FaultMulticastJoinFailure    FaultCode = 9014
	FaultFileServerUnreachable   FaultCode = 9015
	FaultFileAccessFailure       FaultCode = 9016
	FaultDownloadIncomplete      FaultCode = 9017
	FaultFileCorrupted           FaultCode = 9018
	FaultFileAuthFailure         FaultCode = 9019
	FaultTimeWindowsExpired      FaultCode = 9020
	FaultCancelNotPermitted      FaultCode = 9021
	FaultInvalidUUID             FaultCode = 9022
	FaultUnknownExecutionEnv     FaultCode = 9023
	FaultDisabledExecutionEnv    FaultCode = 9024
	FaultDUExecutionEnvMismatch  FaultCode = 9025
	FaultDuplicateDU             FaultCode = 9026
	FaultSystemResourcesExceeded FaultCode = 9027
	FaultUnknownDU               FaultCode = 9028
	FaultInvalidDUState          FaultCode = 9029
	FaultDUDowngradeNotPermitted FaultCode = 9030
	FaultDUVersionNotSpecified   FaultCode = 9031
	FaultDUVersionExists         FaultCode = 9032
)

var faultMeanings = map[FaultCode]string{
	8000: "Method not supported",
	8001: "Request denied (no reason specified)",
	8002: "Internal error",
	8003: "Invalid arguments",
	8004: "Resources exceeded",
	8005: "Retry request",
	8006: "ACS version incompatible with CPE",
	9000: "Method not supported",
	9001: "Request denied (no reason specified)",
	9002: "Internal error",
	9003: "Invalid arguments",
	9004: "Resources exceeded",
	9005: "Invalid parameter name",
	9006: "Invalid parameter type",
	9007: "Invalid parameter value",
	9008: "Attempt to set a non-writable parameter",
	9009: "Notification request rejected",
	9010: "File transfer failure",
	9011: "Upload failure",
	9012: "File transfer server authentication failure",
	9013: "Unsupported protocol for file transfer",
	9014: "File transfer failure: unable to join multicast group",
	9015: "File transfer failure: unable to contact file server",
	9016: "File transfer failure: unable to access file",
	9017: "File transfer failure: unable to complete download",
	9018: "File transfer failure: file corrupted",
	9019: "File transfer failure: file authentication failure",
	9020: "File transfer failure: unable to complete download within specified time windows",
	9021: "Cancelation of file transfer not permitted in current transfer state",
	9022: "Invalid UUID format",
	9023: "Unknown execution environment",
	9024: "Disabled execution environment",
	9025: "Deployment unit to execution environment mismatch",
	9026: "Duplicate deployment unit",
	9027: "System resources exceeded",
	9028: "Unknown deployment unit",
	9029: "Invalid deployment unit state",
	9030: "Invalid deployment unit update: downgrade not permitted",
	9031: "Invalid deployment unit update: version not specified",
	9032: "Invalid deployment unit update: version already exists",
}

// Meaning is TR-069's description of the code, "Vendor-specific fault" for
// the vendor ranges and "Unknown fault" for anything else.
func (c FaultCode) Meaning() string {
	if m, ok := faultMeanings[c]; ok {
		return m
	}
	if c.Vendor() {
		return "Vendor-specific fault"
	}
	return "Unknown fault"
}

// ACS reports whether the code is one the ACS returns (8000–8899).
func (c FaultCode) ACS() bool { return c >= 8000 && c <= 8899 }

// Vendor reports whether the code is in a vendor range (8800–8899, 9800–9899).
func (c FaultCode) Vendor() bool { return (c >= 8800 && c <= 8899) || (c >= 9800 && c <= 9899) }

// SOAPFaultCode is the SOAP faultcode TR-069 assigns to the code: "Client"
// when the request was at fault, "Server" otherwise.
func (c FaultCode) SOAPFaultCode() string {
	switch c {
	case 8000, 8001, 8003, 8005, 8006,
		9000, 9001, 9003, 9005, 9006, 9007, 9008, 9009, 9012, 9013, 9014, 9015, 9016, 9019,
		9020, 9021, 9022, 9023, 9024, 9025, 9026, 9028, 9029, 9030, 9031, 9032:
		return "Client"
	}
	return "Server"
}

func (c FaultCode) String() string { return strconv.FormatUint(uint64(c), 10) }

// SetParameterValuesFault names one parameter that a SetParameterValues
// could not set.
type SetParameterValuesFault struct {
	ParameterName string
	FaultCode     FaultCode
	FaultString   string
}

// Fault is a SOAP Fault carrying a cwmp:Fault detail. It is a message body
// and, returned from a device call, an error.
type Fault struct {
	// SOAPCode is the SOAP faultcode ("Client" or "Server"); readers should
	// trust Code, which is what TR-069 defines.
	SOAPCode string
	// SOAPString is the SOAP faultstring, "CWMP fault" by convention.
	SOAPString string
	Code       FaultCode
	String     string
	// SetParameterValuesFaults lists the parameters a failing
	// SetParameterValues names, in the order sent.
	SetParameterValuesFaults []SetParameterValuesFault
}

// NewFault makes a fault with TR-069's SOAP code and the code's meaning as
// its string when msg is empty.
func NewFault(code FaultCode, msg string) *Fault {
	if msg == "" {
		msg = code.Meaning()
	}
	return &Fault{SOAPCode: code.SOAPFaultCode(), SOAPString: "CWMP fault", Code: code, String: msg}
}

func (f *Fault) Error() string {
	s := "cwmp fault " + f.Code.String() + ": "
	if f.String != "" {
		s += f.String
	} else {
		s += f.Code.Meaning()
	}
	for i, p := range f.SetParameterValuesFaults {
		if i == 0 {
			s += " ("
		} else {
			s += "; "
		}
		s += p.ParameterName + ": " + p.FaultCode.String()
		if i == len(f.SetParameterValuesFaults)-1 {
			s += ")"
		}
	}
	return s
}

// Method implements Body.
func (*Fault) Method() string { return "Fault" }

// FaultStruct reports the outcome of a transfer: code 0 is success.
type FaultStruct struct {
	FaultCode   FaultCode
	FaultString string
}

// OK reports whether the transfer succeeded.
func (f FaultStruct) OK() bool { return f.FaultCode == 0 }
