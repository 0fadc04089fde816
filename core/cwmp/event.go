package cwmp

import "strings"

// EventCode is an Inform event code exactly as the device sent it.
type EventCode string

// Standard single events (TR-069 Table 7, plus 13 WAKEUP from 1.4 and
// 14 HEARTBEAT from Amendment 6).
const (
	EventBootstrap                       EventCode = "0 BOOTSTRAP"
	EventBoot                            EventCode = "1 BOOT"
	EventPeriodic                        EventCode = "2 PERIODIC"
	EventScheduled                       EventCode = "3 SCHEDULED"
	EventValueChange                     EventCode = "4 VALUE CHANGE"
	EventKicked                          EventCode = "5 KICKED"
	EventConnectionRequest               EventCode = "6 CONNECTION REQUEST"
	EventTransferComplete                EventCode = "7 TRANSFER COMPLETE"
	EventDiagnosticsComplete             EventCode = "8 DIAGNOSTICS COMPLETE"
	EventRequestDownload                 EventCode = "9 REQUEST DOWNLOAD"
	EventAutonomousTransferComplete      EventCode = "10 AUTONOMOUS TRANSFER COMPLETE"
	EventDUStateChangeComplete           EventCode = "11 DU STATE CHANGE COMPLETE"
	EventAutonomousDUStateChangeComplete EventCode = "12 AUTONOMOUS DU STATE CHANGE COMPLETE"
	EventWakeup                          EventCode = "13 WAKEUP"
	EventHeartbeat                       EventCode = "14 HEARTBEAT"
)

// Method events: one per CommandKey the ACS sent with the method.
const (
	EventMReboot           EventCode = "M Reboot"
	EventMScheduleInform   EventCode = "M ScheduleInform"
	EventMDownload         EventCode = "M Download"
	EventMUpload           EventCode = "M Upload"
	EventMScheduleDownload EventCode = "M ScheduleDownload"
	EventMChangeDUState    EventCode = "M ChangeDUState"
)

// EventKind is the class of an event code.
type EventKind int

// Event kinds. Unknown codes are kept and passed on, never rejected.
const (
	EventUnknown  EventKind = iota
	EventStandard           // "0 BOOTSTRAP" … "14 HEARTBEAT"
	EventMethod             // "M Reboot", "M X_0012AB_Foo"
	EventVendor             // "X 000C42 Alarm", "X CT-COM BIND"
)

func (k EventKind) String() string {
	switch k {
	case EventStandard:
		return "standard"
	case EventMethod:
		return "method"
	case EventVendor:
		return "vendor"
	}
	return "unknown"
}

// EventInfo is what ParseEvent learns from an event code.
type EventInfo struct {
	Kind EventKind
	// Code is the code with surrounding white space removed and, for a
	// standard event written in another case, the canonical spelling.
	Code EventCode
	// Number is the leading number of a standard event, or -1.
	Number int
	// Method is the method of an M event ("Reboot", "X_0012AB_Foo").
	Method string
	// Vendor is the OUI or domain of an X event; Name is the rest.
	Vendor, Name string
}

var standardEvents = []EventCode{
	EventBootstrap, EventBoot, EventPeriodic, EventScheduled, EventValueChange,
	EventKicked, EventConnectionRequest, EventTransferComplete, EventDiagnosticsComplete,
	EventRequestDownload, EventAutonomousTransferComplete, EventDUStateChangeComplete,
	EventAutonomousDUStateChangeComplete, EventWakeup, EventHeartbeat,
}

// ParseEvent classifies any event code string without rejecting it. Devices
// write standard codes in odd case ("M TRANSFERCOMPLETE") or with padding;
// standard and method codes are matched case-insensitively, vendor codes are
// kept as sent.
func ParseEvent(s string) EventInfo {
	code := strings.TrimSpace(s)
	info := EventInfo{Kind: EventUnknown, Code: EventCode(code), Number: -1}
	if code == "" {
		return info
	}
	switch c := code[0]; {
	case c >= '0' && c <= '9':
		n := 0
		i := 0
		for i < len(code) && code[i] >= '0' && code[i] <= '9' && n < 1000 {
			n = n*10 + int(code[i]-'0')
			i++
		}
		for _, std := range standardEvents {
			if strings.EqualFold(normalSpace(code), string(std)) {
				info.Kind, info.Code, info.Number = EventStandard, std, n
				return info
			}
		}
		// A numbered code from a future amendment: standard by shape.
		if i < len(code) && code[i] == ' ' && i < len(code)-1 {
			info.Kind, info.Number = EventStandard, n
		}
		return info
	case c == 'M' || c == 'm':
		if len(code) > 2 && code[1] == ' ' {
			method := strings.TrimSpace(code[2:])
			for _, known := range []string{"Reboot", "ScheduleInform", "Download", "Upload", "ScheduleDownload", "ChangeDUState"} {
				if strings.EqualFold(method, known) {
					method = known
					break
				}
			}
			info.Kind, info.Method = EventMethod, method
			if !strings.HasPrefix(method, "X_") {
				info.Code = EventCode("M " + method)
			}
		}
		return info
	case c == 'X' || c == 'x':
		if len(code) > 2 && code[1] == ' ' {
			vendor, name, ok := strings.Cut(strings.TrimSpace(code[2:]), " ")
			if ok && vendor != "" {
				info.Kind, info.Vendor, info.Name = EventVendor, vendor, strings.TrimSpace(name)
			}
		}
		return info
	}
	return info
}

// normalSpace folds runs of white space into one space so that
// "0  BOOTSTRAP" and "0 BOOTSTRAP" compare equal.
func normalSpace(s string) string {
	if !strings.Contains(s, "  ") && !strings.ContainsAny(s, "\t\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// EventStruct is one entry of an Inform's event list.
type EventStruct struct {
	EventCode  EventCode
	CommandKey string
}

// Retention says how long a CPE keeps an undelivered event.
type Retention int

// Retention classes, from TR-069's event table.
const (
	RetainUntilDelivered Retention = iota // kept across reboots until an Inform carrying it succeeds
	RetainUntilReboot                     // retried, dropped at reboot
	RetainNever                           // dropped when the session fails
)

// RetentionOf says how a CPE keeps ev when a session fails.
func RetentionOf(ev EventCode) Retention {
	info := ParseEvent(string(ev))
	switch info.Code {
	case EventConnectionRequest:
		return RetainNever
	case EventBoot, EventValueChange, EventDiagnosticsComplete:
		return RetainUntilReboot
	}
	return RetainUntilDelivered
}
