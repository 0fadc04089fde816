package store

import (
	"math"
	"strconv"
	"strings"
)

// CheckParamPath validates a parameter path used in a query condition: dot
// separated segments of letters, digits, '_' and '-' (instance numbers
// included), starting with a letter, at most 256 bytes, no trailing dot (an
// object has no value to compare).
func CheckParamPath(p string) error {
	if strings.HasSuffix(p, ".") {
		return Invalid("path %q names an object, not a parameter", p)
	}
	return checkPath(p)
}

// CheckParamSelector validates a path that selects parameters to return:
// a parameter path, or an object path ending in ".".
func CheckParamSelector(p string) error {
	return checkPath(strings.TrimSuffix(p, "."))
}

func checkPath(p string) error {
	if p == "" || len(p) > 256 {
		return Invalid("path must be 1 to 256 bytes")
	}
	if c := p[0]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
		return Invalid("path %q must start with a letter", p)
	}
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" {
			return Invalid("path %q has an empty segment", p)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return Invalid("path %q: character %q not allowed", p, c)
			}
		}
	}
	return nil
}

// IsDeviceField reports whether f is one of DeviceFields.
func IsDeviceField(f string) bool {
	for _, x := range DeviceFields {
		if x == f {
			return true
		}
	}
	return false
}

// summaryParams maps parameter paths below the model root to the device
// field that mirrors them. The Inform's DeviceId fills oui, productClass
// and serialNumber, and Promote keeps the others in step with the tree.
var summaryParams = map[string]string{
	"DeviceInfo.ManufacturerOUI":            "oui",
	"DeviceInfo.ProductClass":               "productClass",
	"DeviceInfo.SerialNumber":               "serialNumber",
	"DeviceInfo.Manufacturer":               "manufacturer",
	"DeviceInfo.ModelName":                  "modelName",
	"DeviceInfo.SoftwareVersion":            "softwareVersion",
	"DeviceInfo.HardwareVersion":            "hardwareVersion",
	"ManagementServer.ConnectionRequestURL": "connectionRequestUrl",
}

// SummaryField returns the device field a condition field is answered
// from: the field itself for one of DeviceFields, the mirrored field for a
// summary parameter path, and false for any other parameter.
func SummaryField(field string) (string, bool) {
	if IsDeviceField(field) {
		return field, true
	}
	root, rest, ok := strings.Cut(field, ".")
	if !ok || (root != "Device" && root != "InternetGatewayDevice") {
		return "", false
	}
	f, ok := summaryParams[rest]
	return f, ok
}

// DeviceField returns a summary field of d by its query name.
func DeviceField(d Device, field string) string {
	switch field {
	case "id":
		return d.ID
	case "oui":
		return d.OUI
	case "productClass":
		return d.ProductClass
	case "serialNumber":
		return d.SerialNumber
	case "manufacturer":
		return d.Manufacturer
	case "modelName":
		return d.ModelName
	case "softwareVersion":
		return d.SoftwareVersion
	case "hardwareVersion":
		return d.HardwareVersion
	case "ip":
		return d.IP
	case "connectionRequestUrl":
		return d.ConnectionRequestURL
	case "cwmpVersion":
		return d.CWMPVersion
	case "profile":
		return d.Profile
	}
	return ""
}

// ParseNumber reads a value as a finite number, the way query conditions
// decide whether a comparison is numeric.
func ParseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// Ordered reports whether op is one of the ordering comparisons.
func (op Op) Ordered() bool { return op == OpLt || op == OpLe || op == OpGt || op == OpGe }

// Valid reports whether op is a known comparison.
func (op Op) Valid() bool {
	for _, o := range Ops {
		if o == op {
			return true
		}
	}
	return false
}

// Match applies the condition's comparison to a stored value. Every
// backend answers conditions with these semantics.
func (c Cond) Match(value string) bool {
	switch c.Op {
	case OpEq:
		return value == c.Value
	case OpNe:
		return value != c.Value
	case OpPrefix:
		return strings.HasPrefix(value, c.Value)
	}
	var cmp int
	if want, ok := ParseNumber(c.Value); ok {
		have, ok := ParseNumber(value)
		if !ok {
			return false
		}
		switch {
		case have < want:
			cmp = -1
		case have > want:
			cmp = 1
		}
	} else {
		cmp = strings.Compare(value, c.Value)
	}
	switch c.Op {
	case OpLt:
		return cmp < 0
	case OpLe:
		return cmp <= 0
	case OpGt:
		return cmp > 0
	case OpGe:
		return cmp >= 0
	}
	return false
}
