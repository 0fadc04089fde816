package script

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dop251/goja"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/datamodel"
	"github.com/provisor/provisor/core/internal/hook"
)

// kind is what a registration listens for.
type kind int

const (
	kindEvent            kind = iota // an Inform event code
	kindInform                       // every session
	kindTransferComplete             // TransferComplete / AutonomousTransferComplete from the CPE
	kindRequestDownload              // RequestDownload from the CPE
	kindFault                        // a CPE fault in the session
	kindSessionEnd                   // the end of the session
	kindCount
)

// The event names that are no event codes.
const (
	EventInform           = "inform"
	EventTransferComplete = "transferComplete"
	EventRequestDownload  = "requestDownload"
	EventFault            = "fault"
	EventSessionEnd       = "session.end"
)

var specialEvents = map[string]kind{
	EventInform:           kindInform,
	EventTransferComplete: kindTransferComplete,
	EventRequestDownload:  kindRequestDownload,
	EventFault:            kindFault,
	EventSessionEnd:       kindSessionEnd,
}

// Registration is one provisor.on call.
type Registration struct {
	// Event is the event as the script wrote it.
	Event string
	// Order sorts handlers: lower first, then load order.
	Order float64
	// File, Line and Column locate the provisor.on call.
	File         string
	Line, Column int
	// Filter describes the device filters, for display.
	Filter string

	kind   kind
	key    string // normalised event code, for kindEvent
	filter filter
	index  int
}

// Where is "file:line:column" of the registration.
func (r *Registration) Where() string {
	return (&FileError{File: r.File, Line: r.Line, Column: r.Column}).Where()
}

// eventKey normalises an event code so that case and spacing variants of
// one event compare equal. Vendor names keep their case, as TR-069 leaves
// them to the vendor; the OUI or domain does not.
func eventKey(code string) (string, bool) {
	info := cwmp.ParseEvent(code)
	switch info.Kind {
	case cwmp.EventStandard:
		return strings.ToUpper(strings.Join(strings.Fields(string(info.Code)), " ")), true
	case cwmp.EventMethod:
		return "M " + strings.ToLower(info.Method), info.Method != ""
	case cwmp.EventVendor:
		return "X " + strings.ToUpper(info.Vendor) + " " + strings.Join(strings.Fields(info.Name), " "), true
	}
	return "", false
}

// filter holds a registration's device filters; empty fields match all.
type filter struct {
	oui, productClass, manufacturer, model, tag []string
	where                                       []wherePred
}

type wherePred struct {
	path   string
	values []any // string, float64 or bool
}

func (f *filter) String() string {
	var parts []string
	add := func(name string, vals []string) {
		if len(vals) > 0 {
			parts = append(parts, name+"="+strings.Join(vals, "|"))
		}
	}
	add("oui", f.oui)
	add("productClass", f.productClass)
	add("manufacturer", f.manufacturer)
	add("model", f.model)
	add("tag", f.tag)
	for _, w := range f.where {
		vals := make([]string, len(w.values))
		for i, v := range w.values {
			vals[i] = fmt.Sprint(v)
		}
		parts = append(parts, w.path+"="+strings.Join(vals, "|"))
	}
	return strings.Join(parts, " ")
}

var optionNames = []string{"oui", "productClass", "manufacturer", "model", "tag", "where", "order"}

// parseRegistration reads the arguments of provisor.on.
func parseRegistration(rt *goja.Runtime, event goja.Value, options goja.Value) (*Registration, error) {
	if event == nil || goja.IsUndefined(event) {
		return nil, fmt.Errorf("provisor.on: the first argument must be an event code such as \"1 BOOT\"")
	}
	name, ok := event.Export().(string)
	if !ok {
		return nil, fmt.Errorf("provisor.on: the event must be a string, not %s", typeName(event))
	}
	r := &Registration{Event: name}
	if k, ok := specialEvents[name]; ok {
		r.kind = k
	} else if key, ok := eventKey(name); ok {
		r.kind, r.key = kindEvent, key
	} else {
		hint := ""
		for special := range specialEvents {
			if strings.EqualFold(special, name) {
				hint = fmt.Sprintf(" (did you mean %q?)", special)
			}
		}
		return nil, fmt.Errorf("provisor.on: %q is no event code%s; use a code such as \"0 BOOTSTRAP\", \"1 BOOT\", \"M Reboot\", \"X 000C42 Name\", or one of inform, transferComplete, requestDownload, fault, session.end", name, hint)
	}
	if options == nil || goja.IsUndefined(options) || goja.IsNull(options) {
		return r, nil
	}
	obj, ok := options.(*goja.Object)
	if !ok || obj.ClassName() != "Object" {
		return nil, fmt.Errorf("provisor.on: options must be an object, not %s", typeName(options))
	}
	for _, k := range obj.Keys() {
		val := obj.Get(k)
		var err error
		switch k {
		case "order":
			f, ok := val.Export().(float64)
			if i, isInt := val.Export().(int64); isInt {
				f, ok = float64(i), true
			}
			if !ok || math.IsNaN(f) {
				err = fmt.Errorf("order must be a number")
			}
			r.Order = f
		case "oui":
			r.filter.oui, err = stringList(val)
		case "productClass":
			r.filter.productClass, err = stringList(val)
		case "manufacturer":
			r.filter.manufacturer, err = stringList(val)
		case "model":
			r.filter.model, err = stringList(val)
		case "tag":
			r.filter.tag, err = stringList(val)
		case "where":
			r.filter.where, err = parseWhere(val)
		default:
			hint := ""
			for _, known := range optionNames {
				if strings.EqualFold(known, k) {
					hint = fmt.Sprintf(" (did you mean %q?)", known)
				}
			}
			return nil, fmt.Errorf("provisor.on: unknown option %q%s; the options are %s", k, hint, strings.Join(optionNames, ", "))
		}
		if err != nil {
			return nil, fmt.Errorf("provisor.on: option %s: %v", k, err)
		}
	}
	r.Filter = r.filter.String()
	return r, nil
}

func stringList(v goja.Value) ([]string, error) {
	switch x := v.Export().(type) {
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want a string or an array of strings")
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("an empty list matches no device")
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a string or an array of strings, not %s", typeName(v))
}

func parseWhere(v goja.Value) ([]wherePred, error) {
	obj, ok := v.(*goja.Object)
	if !ok || obj.ClassName() != "Object" {
		return nil, fmt.Errorf("want an object {path: value}")
	}
	var out []wherePred
	for _, p := range obj.Keys() {
		if p == "" || strings.HasSuffix(p, ".") {
			return nil, fmt.Errorf("%q is no parameter path", p)
		}
		w := wherePred{path: p}
		add := func(e any) error {
			switch x := e.(type) {
			case string, bool, float64:
				w.values = append(w.values, x)
			case int64:
				w.values = append(w.values, float64(x))
			default:
				return fmt.Errorf("%s: want a string, number or boolean (or an array of them)", p)
			}
			return nil
		}
		if list, ok := obj.Get(p).Export().([]any); ok {
			for _, e := range list {
				if err := add(e); err != nil {
					return nil, err
				}
			}
		} else if err := add(obj.Get(p).Export()); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

func typeName(v goja.Value) string {
	switch {
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "null"
	}
	if o, ok := v.(*goja.Object); ok {
		if _, fn := goja.AssertFunction(o); fn {
			return "a function"
		}
		if o.ClassName() == "Array" {
			return "an array"
		}
		return "an object"
	}
	switch v.Export().(type) {
	case string:
		return "a string"
	case int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return v.String()
}

// matcher evaluates filters for one session, reading each fact once.
type matcher struct {
	ctx    context.Context
	s      hook.Session
	st     *sessionState
	e      *Engine
	events map[string]bool
}

func newMatcher(ctx context.Context, e *Engine, s hook.Session, st *sessionState) *matcher {
	m := &matcher{ctx: ctx, s: s, st: st, e: e, events: map[string]bool{}}
	if in := s.Inform(); in != nil {
		for _, ev := range in.Events {
			if k, ok := eventKey(string(ev.EventCode)); ok {
				m.events[k] = true
			}
		}
	}
	return m
}

func anyFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
}

func (m *matcher) matches(f *filter) bool {
	d := m.s.Device()
	if len(f.oui) > 0 && !anyFold(f.oui, d.OUI) {
		return false
	}
	if len(f.productClass) > 0 && !anyFold(f.productClass, d.ProductClass) {
		return false
	}
	if len(f.manufacturer) > 0 && !anyFold(f.manufacturer, d.Manufacturer) {
		return false
	}
	if len(f.model) > 0 {
		p, ok, err := m.s.Value(m.ctx, d.Root+"DeviceInfo.ModelName")
		if err != nil || !ok || !anyFold(f.model, p.Value) {
			return false
		}
	}
	if len(f.tag) > 0 {
		tags := m.st.deviceTags(m.ctx, m.e, d.ID)
		if !slices.ContainsFunc(f.tag, func(t string) bool { return slices.Contains(tags, t) }) {
			return false
		}
	}
	for _, w := range f.where {
		p, ok, err := m.s.Value(m.ctx, w.path)
		if err != nil || !ok || p.Object {
			return false
		}
		typ := cwmp.ParseType(p.Type)
		if p.Type == "" {
			if t, ok := datamodel.TypeOf(w.path); ok {
				typ = cwmp.Type(t)
			}
		}
		if !slices.ContainsFunc(w.values, func(want any) bool { return valueEquals(typ, p.Value, want) }) {
			return false
		}
	}
	return true
}

// valueEquals compares a device value with a filter value by the filter
// value's JavaScript type.
func valueEquals(typ cwmp.Type, text string, want any) bool {
	switch w := want.(type) {
	case bool:
		b, err := cwmp.ParseBool(text)
		return err == nil && b == w
	case float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		return err == nil && f == w
	case string:
		if typ == cwmp.TypeBoolean {
			a, err1 := cwmp.ParseBool(text)
			b, err2 := cwmp.ParseBool(w)
			if err1 == nil && err2 == nil {
				return a == b
			}
		}
		return text == w
	}
	return false
}
