package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// EventHandler handles the Inform events of sessions. The host calls it
// once per session of a matching device, with every event the Inform
// carried, and only when one of Events is among them.
type EventHandler interface {
	// Events lists the event codes the handler wants, and EventInform for
	// every session.
	Events() []string
	// HandleSession does the work for one session. Errors are logged and
	// recorded by the host; the session goes on with its other handlers.
	HandleSession(ctx context.Context, s Session) error
}

// EventFunc handles one event of a session.
type EventFunc func(ctx context.Context, s Session) error

// Events maps event codes to handlers and is itself an EventHandler. In a
// session, the EventInform handler runs first, then the handlers of the
// Inform's events in the order the device listed them, each at most once.
// Codes are matched as CWMP compares them: standard and method codes
// without regard to case or spacing, vendor names exactly.
type Events map[string]EventFunc

// Events implements EventHandler.
func (m Events) Events() []string {
	out := make([]string, 0, len(m))
	for code := range m {
		out = append(out, code)
	}
	sort.Strings(out)
	return out
}

// HandleSession implements EventHandler. A handler whose device went away
// stops the rest; other errors are collected and the next handler runs.
func (m Events) HandleSession(ctx context.Context, s Session) error {
	byKey := make(map[string]EventFunc, len(m))
	for code, fn := range m {
		byKey[EventKey(code)] = fn
	}
	var order []string
	if _, ok := byKey[EventInform]; ok {
		order = append(order, EventInform)
	}
	for _, e := range s.Events() {
		k := EventKey(e.Code)
		if _, ok := byKey[k]; ok && !slices.Contains(order, k) {
			order = append(order, k)
		}
	}
	var errs []error
	for _, k := range order {
		if err := byKey[k](ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			if errors.Is(err, ErrSessionEnded) {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// EventKey normalises an event code so that the spellings devices use for
// one event compare equal: "0 bootstrap" and "0  BOOTSTRAP" are
// "0 BOOTSTRAP", "M reboot" is "M REBOOT", the OUI of "X 000c42 Alarm"
// is upper-cased and its name kept.
func EventKey(code string) string {
	c := strings.Join(strings.Fields(code), " ")
	switch {
	case c == "":
		return ""
	case strings.EqualFold(c, EventInform):
		return EventInform
	case c[0] >= '0' && c[0] <= '9', len(c) > 2 && (c[0] == 'M' || c[0] == 'm') && c[1] == ' ':
		return strings.ToUpper(c)
	case len(c) > 2 && (c[0] == 'X' || c[0] == 'x') && c[1] == ' ':
		vendor, name, _ := strings.Cut(c[2:], " ")
		return "X " + strings.ToUpper(vendor) + " " + name
	}
	return c
}

// CPERequestHandler handles requests the CPE sends in a session
// (TransferComplete, AutonomousTransferComplete, RequestDownload). It runs
// before the ACS answers the request, so device calls fail with ErrNotNow;
// Cached, Tag and the host's data work.
type CPERequestHandler interface {
	HandleCPERequest(ctx context.Context, s Session, req CPERequest) error
}

// CPERequestFunc adapts a function to CPERequestHandler.
type CPERequestFunc func(ctx context.Context, s Session, req CPERequest) error

// HandleCPERequest implements CPERequestHandler.
func (f CPERequestFunc) HandleCPERequest(ctx context.Context, s Session, req CPERequest) error {
	return f(ctx, s, req)
}

// FunctionHandler offers functions to scripts, as
// require("provisor/x/<plugin id>").<name>(args…), and to the API.
type FunctionHandler interface {
	Functions() []FunctionInfo
	CallFunction(ctx context.Context, c *Call) (any, error)
}

// FunctionInfo describes an exported function.
type FunctionInfo struct {
	Name string
	Doc  string
	// NeedsSession marks functions that call the device: they run only
	// inside a session.
	NeedsSession bool
}

// Function is one exported function. Its result is sent back as JSON.
type Function struct {
	Doc          string
	NeedsSession bool
	Func         func(ctx context.Context, c *Call) (any, error)
}

// Functions maps names to functions and is itself a FunctionHandler.
type Functions map[string]Function

// Functions implements FunctionHandler.
func (m Functions) Functions() []FunctionInfo {
	out := make([]FunctionInfo, 0, len(m))
	for name, f := range m {
		out = append(out, FunctionInfo{Name: name, Doc: f.Doc, NeedsSession: f.NeedsSession})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CallFunction implements FunctionHandler.
func (m Functions) CallFunction(ctx context.Context, c *Call) (any, error) {
	f, ok := m[c.Name]
	if !ok {
		return nil, fmt.Errorf("no function %q", c.Name)
	}
	if f.NeedsSession && c.Session == nil {
		return nil, fmt.Errorf("%s: %w", c.Name, ErrNoSession)
	}
	return f.Func(ctx, c)
}

// Call is one function call.
type Call struct {
	Name string
	// Args are the arguments as JSON, one per argument the caller passed.
	Args []json.RawMessage
	// Session is the live session when the function is called from a
	// script handler; nil when it is called from the API.
	Session Session
	// Device is the device the call is about; zero when there is none.
	Device Device
}

// Arg decodes argument i into v. A missing argument is an error unless
// optional; JSON null leaves v alone.
func (c *Call) Arg(i int, v any) error {
	if i >= len(c.Args) {
		return fmt.Errorf("%s: argument %d is missing", c.Name, i+1)
	}
	if err := json.Unmarshal(c.Args[i], v); err != nil {
		return fmt.Errorf("%s: argument %d: %w", c.Name, i+1, err)
	}
	return nil
}

// OptionalArg decodes argument i into v when the caller passed it.
func (c *Call) OptionalArg(i int, v any) error {
	if i >= len(c.Args) {
		return nil
	}
	return c.Arg(i, v)
}

// CredentialProvider answers for device credentials: what the ACS expects
// from a device, and what it presents to the device's connection request
// URL. found is false to let the ACS's own configuration decide.
type CredentialProvider interface {
	Credentials(ctx context.Context, req CredentialsRequest) (c Credentials, found bool, err error)
}

// CredentialFunc adapts a function to CredentialProvider.
type CredentialFunc func(ctx context.Context, req CredentialsRequest) (Credentials, bool, error)

// Credentials implements CredentialProvider.
func (f CredentialFunc) Credentials(ctx context.Context, req CredentialsRequest) (Credentials, bool, error) {
	return f(ctx, req)
}

// FileTypeHandler declares vendor file types and inspects the files
// devices upload with them (to name them, or to read metadata out of
// them).
type FileTypeHandler interface {
	FileTypes() []FileType
	HandleUpload(ctx context.Context, f UploadedFile) (UploadResult, error)
}

// ProfileProvider contributes device profiles (quirk switches) to the
// session engine. The host reads them once when the plugin starts.
type ProfileProvider interface {
	Profiles() []Profile
}

// Profiles is a fixed list of profiles and a ProfileProvider.
type Profiles []Profile

// Profiles implements ProfileProvider.
func (p Profiles) Profiles() []Profile { return p }
