package main

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// builtinTypes maps the syntax elements the BBF schema allows for a value to
// the type the table records. decimal is not one of the nine TR-069 SOAP
// types, but TR-181 uses it (IP capacity diagnostics), so it is kept rather
// than silently folded into string.
var builtinTypes = map[string]string{
	"string":       "string",
	"int":          "int",
	"unsignedInt":  "unsignedInt",
	"long":         "long",
	"unsignedLong": "unsignedLong",
	"boolean":      "boolean",
	"dateTime":     "dateTime",
	"base64":       "base64",
	"hexBinary":    "hexBinary",
	"decimal":      "decimal",
}

// typeDef is what a named <dataType> contributes to resolution; facets
// (sizes, ranges, patterns, enumerations) do not change the wire type.
type typeDef struct {
	base    string // named type this one restricts, if any
	builtin string // directly given base type, if any
	list    bool   // list-valued types travel as comma-separated strings
}

type param struct {
	name       string
	typ        string
	writable   bool
	def        string
	hasDefault bool
}

type object struct {
	name     string
	writable bool
	params   []param
}

type model struct {
	name    string // e.g. "Device:2.15"
	file    string
	objects []*object
	notes   []string // oddities worth a human look; not errors
}

// rawParam collects a parameter's syntax until its end tag, because a type
// can only be resolved once every dataType in the file is known and a
// flattened file may, in principle, define types after first use.
type rawParam struct {
	param
	access   string
	dropped  bool
	list     bool
	builtin  string
	typeRef  string
	factory  *string
	objDef   *string
	nTypes   int
	unknowns []string
}

type rawObject struct {
	name     string
	access   string
	maxEntry string
	dropped  bool
	params   []*rawParam
}

var entityDecl = regexp.MustCompile(`<!ENTITY\s+(\w+)\s+"([^"]*)"\s*>`)

// newDecoder returns a decoder that understands the internal-subset entities
// BBF files declare for their regex patterns (tr-106-types.xml does); without
// them encoding/xml rejects the file.
func newDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.Entity = map[string]string{}
	return d
}

func attr(se xml.StartElement, name string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// gone reports whether a status removes the item from the model as a CPE
// may implement it. Deprecated items are still valid and stay.
func gone(status string) bool {
	return status == "obsoleted" || status == "deleted"
}

// parseTypes reads the top-level named data types of a BBF file.
func parseTypes(path string, into map[string]typeDef) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return walk(f, path, into, nil)
}

// parseModel reads the single root model of a flattened BBF file. Types the
// file defines are added to types (and override same-named entries), so
// callers pass in the TR-106 types as the fallback.
func parseModel(path string, types map[string]typeDef) (*model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var m model
	if err := walk(f, path, types, &m); err != nil {
		return nil, err
	}
	if m.name == "" {
		return nil, fmt.Errorf("%s: no <model> element", path)
	}
	return &m, nil
}

// walk streams one file. Element nesting is tracked by local name only: the
// BBF schema puts dataType definitions directly under the document, objects
// directly under the model, and parameters directly under objects, while the
// <object ref>/<parameter ref> elements inside <profile> sit one level deeper
// and so never match.
func walk(r io.Reader, path string, types map[string]typeDef, m *model) error {
	d := newDecoder(r)
	var (
		stack   []string
		defName string
		def     typeDef
		raws    []*rawObject
		obj     *rawObject
		par     *rawParam
		models  int
	)
	parent := func() string {
		if len(stack) < 2 {
			return ""
		}
		return stack[len(stack)-2]
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			for _, e := range entityDecl.FindAllStringSubmatch(string(t), -1) {
				d.Entity[e[1]] = e[2]
			}
		case xml.StartElement:
			name := t.Name.Local
			stack = append(stack, name)
			switch {
			case name == "dataType" && parent() == "document":
				defName, _ = attr(t, "name")
				def = typeDef{}
				def.base, _ = attr(t, "base")
			case defName != "" && parent() == "dataType" && len(stack) == 3:
				if name == "list" {
					def.list = true
				} else if b, ok := builtinTypes[name]; ok {
					def.builtin = b
				}
			case name == "model" && parent() == "document" && m != nil:
				models++
				m.name, _ = attr(t, "name")
				m.file = path
			case name == "object" && parent() == "model" && m != nil:
				obj = &rawObject{}
				obj.name, _ = attr(t, "name")
				obj.access, _ = attr(t, "access")
				obj.maxEntry, _ = attr(t, "maxEntries")
				st, _ := attr(t, "status")
				obj.dropped = gone(st)
			case name == "parameter" && parent() == "object" && obj != nil:
				par = &rawParam{}
				par.name, _ = attr(t, "name")
				par.access, _ = attr(t, "access")
				st, _ := attr(t, "status")
				par.dropped = gone(st)
			case par != nil && parent() == "syntax" && len(stack) >= 3 && stack[len(stack)-3] == "parameter":
				switch name {
				case "list":
					par.list = true
				case "dataType":
					par.nTypes++
					if ref, ok := attr(t, "ref"); ok {
						par.typeRef = ref
					} else if base, ok := attr(t, "base"); ok {
						par.typeRef = base
					}
				case "default":
					st, _ := attr(t, "status")
					if gone(st) {
						break
					}
					v, _ := attr(t, "value")
					switch kind, _ := attr(t, "type"); kind {
					case "factory":
						par.factory = &v
					case "object":
						par.objDef = &v
					default:
						par.unknowns = append(par.unknowns, "default type="+kind)
					}
				default:
					if b, ok := builtinTypes[name]; ok {
						par.nTypes++
						par.builtin = b
					} else {
						par.unknowns = append(par.unknowns, name)
					}
				}
			}
		case xml.EndElement:
			name := t.Name.Local
			switch {
			case name == "dataType" && defName != "" && len(stack) == 2:
				types[defName] = def
				defName = ""
			case name == "parameter" && par != nil && parent() == "object":
				obj.params = append(obj.params, par)
				par = nil
			case name == "object" && obj != nil && parent() == "model":
				raws = append(raws, obj)
				obj = nil
			}
			stack = stack[:len(stack)-1]
		}
	}
	if m == nil {
		return nil
	}
	if models != 1 {
		return fmt.Errorf("%s: want exactly one <model>, found %d", path, models)
	}
	return finish(m, raws, types)
}

// finish resolves types, applies status filtering and checks the structural
// assumptions the runtime table relies on.
func finish(m *model, raws []*rawObject, types map[string]typeDef) error {
	kept := map[string]bool{}
	for _, ro := range raws {
		if err := checkObjectName(ro.name); err != nil {
			return fmt.Errorf("%s: %w", m.file, err)
		}
		if ro.dropped {
			continue
		}
		if kept[ro.name] {
			return fmt.Errorf("%s: object %s defined twice", m.file, ro.name)
		}
		kept[ro.name] = true
	}
	// An obsoleted table takes its sub-objects with it even if their own
	// status was not updated; a parent is always listed before its children
	// in BBF files, but checking by name does not depend on that.
	for changed := true; changed; {
		changed = false
		for name := range kept {
			if p := parentObject(name); p != "" && !kept[p] {
				delete(kept, name)
				m.notes = append(m.notes, fmt.Sprintf("dropped %s: parent %s is obsoleted/deleted or absent", name, p))
				changed = true
			}
		}
	}
	for _, ro := range raws {
		if !kept[ro.name] || ro.dropped {
			continue
		}
		multi := strings.HasSuffix(ro.name, ".{i}.")
		if multi != (ro.maxEntry != "1") {
			m.notes = append(m.notes, fmt.Sprintf("%s: maxEntries=%q but name says multi-instance=%v", ro.name, ro.maxEntry, multi))
		}
		if ro.access == "readWrite" && !multi {
			m.notes = append(m.notes, fmt.Sprintf("%s: access=readWrite on a single-instance object; recorded as not creatable", ro.name))
		}
		o := &object{name: ro.name, writable: ro.access == "readWrite" && multi}
		seen := map[string]bool{}
		for _, rp := range ro.params {
			if rp.dropped {
				continue
			}
			// TR-098 has names with a trailing blank ("Queueing "); the
			// schema types names as tokens, so whitespace is not part of it.
			if trimmed := strings.TrimSpace(rp.name); trimmed != rp.name {
				m.notes = append(m.notes, fmt.Sprintf("%s%q: name has surrounding white space; trimmed", ro.name, rp.name))
				rp.name = trimmed
			}
			p, err := resolveParam(rp, types)
			if err != nil {
				return fmt.Errorf("%s: %s%s: %w", m.file, ro.name, rp.name, err)
			}
			if seen[p.name] {
				return fmt.Errorf("%s: %s%s defined twice", m.file, ro.name, p.name)
			}
			seen[p.name] = true
			if rp.access == "writeOnceReadOnly" {
				m.notes = append(m.notes, fmt.Sprintf("%s%s: access=writeOnceReadOnly recorded as writable", ro.name, p.name))
			}
			if rp.factory != nil && rp.objDef != nil && *rp.factory != *rp.objDef {
				m.notes = append(m.notes, fmt.Sprintf("%s%s: factory default %q and object default %q differ; factory kept", ro.name, p.name, *rp.factory, *rp.objDef))
			}
			o.params = append(o.params, p)
		}
		m.objects = append(m.objects, o)
	}
	return nil
}

func resolveParam(rp *rawParam, types map[string]typeDef) (param, error) {
	p := rp.param
	if err := checkParamName(p.name); err != nil {
		return p, err
	}
	if len(rp.unknowns) > 0 {
		return p, fmt.Errorf("unexpected syntax content %v", rp.unknowns)
	}
	if rp.nTypes != 1 {
		return p, fmt.Errorf("syntax has %d value types, want 1", rp.nTypes)
	}
	switch rp.access {
	case "readOnly":
	case "readWrite":
		p.writable = true
	case "writeOnceReadOnly":
		// The ACS must be allowed the one write (typically right after
		// AddObject); a later attempt draws a CPE fault, which is harmless.
		p.writable = true
	default:
		return p, fmt.Errorf("unknown access %q", rp.access)
	}
	switch {
	case rp.list:
		p.typ = "string"
	case rp.builtin != "":
		p.typ = rp.builtin
	default:
		t, err := resolveType(rp.typeRef, types)
		if err != nil {
			return p, err
		}
		p.typ = t
	}
	// A factory default is what a fresh device reports, which is what a
	// simulator profile wants; an object default only applies to instances
	// created later.
	switch {
	case rp.factory != nil:
		p.def, p.hasDefault = *rp.factory, true
	case rp.objDef != nil:
		p.def, p.hasDefault = *rp.objDef, true
	}
	return p, nil
}

func resolveType(name string, types map[string]typeDef) (string, error) {
	start := name
	for range 32 {
		def, ok := types[name]
		if !ok {
			return "", fmt.Errorf("unknown dataType %q (from %q)", name, start)
		}
		switch {
		case def.list:
			return "string", nil
		case def.builtin != "":
			return def.builtin, nil
		case def.base == "":
			return "", fmt.Errorf("dataType %q has neither a base nor a value type", name)
		}
		name = def.base
	}
	return "", fmt.Errorf("dataType %q: base chain too long or cyclic", start)
}

// parentObject returns the object a path's object hangs under, or "" for a
// root. For a table instance the parent is the object holding the table,
// since the table itself ("X.Table.") has no entry of its own.
func parentObject(name string) string {
	s := strings.TrimSuffix(name, ".")
	s = strings.TrimSuffix(s, ".{i}")
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return ""
	}
	return s[:i+1]
}

func checkObjectName(name string) error {
	if !strings.HasSuffix(name, ".") {
		return fmt.Errorf("object name %q does not end in '.'", name)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if seg != "{i}" && !validSegment(seg) {
			return fmt.Errorf("object name %q has odd segment %q", name, seg)
		}
	}
	return nil
}

func checkParamName(name string) error {
	if !validSegment(name) {
		return fmt.Errorf("odd parameter name %q", name)
	}
	return nil
}

// validSegment keeps names to the characters the record format and the
// runtime normaliser can take for granted: no separators, no braces, and no
// all-digit names that would be mistaken for instance numbers.
func validSegment(s string) bool {
	if s == "" {
		return false
	}
	digits := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-':
			digits = false
		default:
			return false
		}
	}
	return !digits
}
