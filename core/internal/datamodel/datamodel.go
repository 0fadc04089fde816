// Package datamodel knows the standard Broadband Forum root data models
// (Device:2 from TR-181 and InternetGatewayDevice:1 from TR-098): for any
// standard parameter or object path it gives the TR-106 value type, whether
// the ACS may write it, and the model's default value.
//
// The ACS needs the type to put the right xsi:type on SetParameterValues when
// a device never reported the parameter, and the writability to refuse a set
// (or an AddObject) before it costs a round trip and a fault. The CPE
// simulator uses All and the defaults to build device profiles.
//
// The table is generated from the flattened model files in testdata/models
// (see the README there). What it records, model by model:
//
//   - deprecated items are kept, since devices still implement them;
//     obsoleted and deleted items are dropped, with everything under them;
//   - list-valued parameters are strings, as they are on the wire;
//   - named data types are resolved to their base type;
//   - writeOnceReadOnly parameters count as writable, since the first write
//     is legitimate;
//   - an object is writable when it is a table row whose table allows
//     AddObject/DeleteObject;
//   - where a model gives both a factory and an object-creation default, the
//     factory one is kept.
//
// Vendor extensions (X_ names) are not in any standard model, so lookups for
// them fail; callers treat those like any other unknown path.
package datamodel

//go:generate go run ./internal/gen -dir .

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Type is a TR-106 base type, spelled as in xsi:type without the "xsd:"
// prefix. The spellings match core/cwmp.Type, so a plain conversion works.
type Type string

// The base types a table entry can carry.
const (
	TypeString       Type = "string"
	TypeInt          Type = "int"
	TypeUnsignedInt  Type = "unsignedInt"
	TypeLong         Type = "long"
	TypeUnsignedLong Type = "unsignedLong"
	TypeBoolean      Type = "boolean"
	TypeDateTime     Type = "dateTime"
	TypeBase64       Type = "base64"
	TypeHexBinary    Type = "hexBinary"
	// TypeDecimal is not among TR-069's SOAP types, but TR-181 uses it for
	// a few IP capacity diagnostics results (Device.IP.Diagnostics.
	// IPLayerCapacityMetrics), and the table does not pretend otherwise.
	TypeDecimal Type = "decimal"
)

// Param is one table entry: a parameter, or an object when Object is set.
type Param struct {
	// Pattern is the path with "{i}" for every instance number, e.g.
	// "Device.WiFi.SSID.{i}.SSID". Object patterns end in ".".
	Pattern string
	// Model is the root model and version the entry comes from, e.g.
	// "Device:2.15" or "InternetGatewayDevice:1.14".
	Model string
	// Type is the parameter's base type; it is empty for objects.
	Type Type
	// Writable is set for parameters the ACS may set, and for table rows
	// the ACS may add and delete.
	Writable bool
	Object   bool
	// Default is the model's default value, meaningful when HasDefault is
	// set (an empty default is common and differs from having none).
	Default    string
	HasDefault bool
}

// Lookup returns the entry for a concrete path such as
// "Device.WiFi.SSID.3.SSID" or "Device.WiFi.SSID.[cpe-1]." (instance
// numbers and instance aliases both stand for "{i}"); a pattern is accepted
// as well. A table path without an instance ("Device.WiFi.SSID.", the
// ObjectName of AddObject) yields its row entry ("Device.WiFi.SSID.{i}."),
// whose Writable says whether rows can be added.
//
// Lookup does not allocate for paths of ordinary length.
func Lookup(path string) (Param, bool) {
	t := load()
	// Room for any standard path with a dozen instance numbers; a longer
	// one still works, append just takes the result to the heap.
	var buf [256]byte
	b, ok := normalize(buf[:0], path)
	if !ok {
		return Param{}, false
	}
	if i, ok := t.byPattern[string(b)]; ok {
		return t.params[i], true
	}
	if n := len(b); n > 0 && b[n-1] == '.' {
		b = append(b, "{i}."...)
		if i, ok := t.byPattern[string(b)]; ok {
			return t.params[i], true
		}
	}
	return Param{}, false
}

// TypeOf returns the base type of the parameter at path. Objects have no
// type, so it reports false for them as it does for unknown paths.
func TypeOf(path string) (Type, bool) {
	p, ok := Lookup(path)
	if !ok || p.Object {
		return "", false
	}
	return p.Type, true
}

// All returns every entry of every model, sorted by Pattern. The slice is
// the caller's to keep or modify.
func All() []Param {
	return slices.Clone(load().sorted())
}

// normalize appends path to dst with instance numbers and "[alias]"
// instance references replaced by "{i}". It reports false for a malformed
// alias reference, which cannot match anything.
func normalize(dst []byte, path string) ([]byte, bool) {
	for i := 0; i < len(path); {
		if path[i] == '[' {
			// An alias may itself contain dots, so it ends at the bracket.
			j := strings.IndexByte(path[i:], ']')
			if j < 2 {
				return dst, false
			}
			i += j + 1
			if i < len(path) && path[i] != '.' {
				return dst, false
			}
			dst = append(dst, "{i}"...)
		} else {
			j := strings.IndexByte(path[i:], '.')
			if j < 0 {
				j = len(path) - i
			}
			seg := path[i : i+j]
			i += j
			if isInstanceNumber(seg) {
				dst = append(dst, "{i}"...)
			} else {
				dst = append(dst, seg...)
			}
		}
		if i < len(path) {
			dst = append(dst, '.')
			i++
		}
	}
	return dst, true
}

func isInstanceNumber(seg string) bool {
	if seg == "" {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return true
}

type index struct {
	params    []Param // in table order: grouped by object, not sorted
	byPattern map[string]int32
	// sorted is params in Pattern order, built on the first All call
	// because only profile generation needs it and the sort would
	// otherwise dominate the first Lookup.
	sorted func() []Param
}

// load builds the index on first use, so programs that link the package
// without looking anything up pay nothing at start-up.
var load = sync.OnceValue(func() *index {
	idx, err := parseTable(table, tableEntries, tableParamPatternBytes)
	if err != nil {
		// Only a hand-edited or truncated table_gen.go gets here, and the
		// tests catch that; there is nothing sensible to fall back to.
		panic("datamodel: bad generated table: " + err.Error())
	}
	return idx
})

// parseTable decodes the generated record format. One record per line:
//
//	@<model>                             starts a model's records
//	<object path>\to<w|r>                an object
//	\t<name>\t<type><w|r>[\t=<default>]  a parameter of the preceding object
//
// <type> is a one-byte code (see typeCode); w marks writable entries. A
// default that is not plain text is a Go quoted string after the "=".
// entries and patternBytes size the allocations exactly.
func parseTable(text string, entries, patternBytes int) (*index, error) {
	params := make([]Param, 0, entries)
	// Parameter patterns are not spelled out in the table (the object
	// path is shared), so they are assembled into one backing string
	// rather than one allocation each; ends[k] is where params[k]'s
	// pattern stops, or -1 for objects, whose pattern is the line itself.
	var sb strings.Builder
	sb.Grow(patternBytes)
	ends := make([]int, 0, entries)
	var model, object string
	for lineNo := 1; text != ""; lineNo++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		switch {
		case line == "":
			continue
		case line[0] == '@':
			model, object = line[1:], ""
		case line[0] != '\t':
			path, flags, _ := strings.Cut(line, "\t")
			if !strings.HasSuffix(path, ".") || len(flags) != 2 || flags[0] != 'o' || model == "" {
				return nil, fmt.Errorf("line %d: bad object record %q", lineNo, line)
			}
			object = path
			params = append(params, Param{Pattern: path, Model: model, Object: true, Writable: flags[1] == 'w'})
			ends = append(ends, -1)
		default:
			name, rest, _ := strings.Cut(line[1:], "\t")
			flags, def, hasDef := strings.Cut(rest, "\t")
			if object == "" || name == "" || len(flags) != 2 {
				return nil, fmt.Errorf("line %d: bad parameter record %q", lineNo, line)
			}
			typ, ok := typeCode(flags[0])
			if !ok {
				return nil, fmt.Errorf("line %d: unknown type code %q", lineNo, flags[0])
			}
			p := Param{Model: model, Type: typ, Writable: flags[1] == 'w'}
			if hasDef {
				v, err := decodeDefault(def)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", lineNo, err)
				}
				p.Default, p.HasDefault = v, true
			}
			sb.WriteString(object)
			sb.WriteString(name)
			params = append(params, p)
			ends = append(ends, sb.Len())
		}
	}
	patterns := sb.String()
	start := 0
	for k, end := range ends {
		if end >= 0 {
			params[k].Pattern = patterns[start:end]
			start = end
		}
	}
	byPattern := make(map[string]int32, len(params))
	for k, p := range params {
		if _, dup := byPattern[p.Pattern]; dup {
			return nil, fmt.Errorf("duplicate pattern %s", p.Pattern)
		}
		byPattern[p.Pattern] = int32(k)
	}
	idx := &index{params: params, byPattern: byPattern}
	idx.sorted = sync.OnceValue(func() []Param {
		s := slices.Clone(idx.params)
		slices.SortFunc(s, func(a, b Param) int { return strings.Compare(a.Pattern, b.Pattern) })
		return s
	})
	return idx, nil
}

func typeCode(c byte) (Type, bool) {
	switch c {
	case 's':
		return TypeString, true
	case 'i':
		return TypeInt, true
	case 'I':
		return TypeLong, true
	case 'u':
		return TypeUnsignedInt, true
	case 'U':
		return TypeUnsignedLong, true
	case 'b':
		return TypeBoolean, true
	case 't':
		return TypeDateTime, true
	case '6':
		return TypeBase64, true
	case 'x':
		return TypeHexBinary, true
	case 'd':
		return TypeDecimal, true
	}
	return "", false
}

func decodeDefault(field string) (string, error) {
	v, ok := strings.CutPrefix(field, "=")
	if !ok {
		return "", errors.New("default field lacks '='")
	}
	if strings.HasPrefix(v, `"`) {
		u, err := strconv.Unquote(v)
		if err != nil {
			return "", fmt.Errorf("default %s: %w", v, err)
		}
		return u, nil
	}
	return v, nil
}
