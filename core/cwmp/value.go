package cwmp

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Type is a parameter value's TR-106 base type, written without a namespace
// prefix ("unsignedInt", not "xsd:unsignedInt"). Vendor types keep whatever
// local name the device sent.
type Type string

// The TR-106 base types.
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
)

// Known reports whether t is one of the TR-106 base types.
func (t Type) Known() bool {
	switch t {
	case TypeString, TypeInt, TypeUnsignedInt, TypeLong, TypeUnsignedLong,
		TypeBoolean, TypeDateTime, TypeBase64, TypeHexBinary:
		return true
	}
	return false
}

// ParseType maps a local type name in any case ("UNSIGNEDINT", "base64Binary")
// to its canonical TR-106 spelling. Unknown names are kept as they are.
func ParseType(s string) Type {
	switch strings.ToLower(s) {
	case "string":
		return TypeString
	case "int", "integer":
		return TypeInt
	case "unsignedint":
		return TypeUnsignedInt
	case "long":
		return TypeLong
	case "unsignedlong":
		return TypeUnsignedLong
	case "boolean", "bool":
		return TypeBoolean
	case "datetime":
		return TypeDateTime
	case "base64", "base64binary":
		return TypeBase64
	case "hexbinary":
		return TypeHexBinary
	}
	return Type(s)
}

// Value is one parameter value as it travels: its type and its text exactly
// as sent. Typed accessors parse on demand, so a value a device sends wrongly
// (a 64-bit counter typed unsignedInt, an empty dateTime) is kept and can
// still be stored and shown.
type Value struct {
	Type Type
	// Text is the value's character data. Strings keep their white space;
	// TR-069 puts no limit on what a string may hold.
	Text string
	// Untyped is set when the sender gave no xsi:type; Type is then a guess
	// (string, or the data model's type when the reader knew it).
	Untyped bool
}

// String makes a string value.
func String(s string) Value { return Value{Type: TypeString, Text: s} }

// Bool makes a boolean value written as "true" or "false".
func Bool(b bool) Value { return Value{Type: TypeBoolean, Text: strconv.FormatBool(b)} }

// Int makes an int value.
func Int(i int32) Value { return Value{Type: TypeInt, Text: strconv.FormatInt(int64(i), 10)} }

// Uint makes an unsignedInt value.
func Uint(u uint32) Value {
	return Value{Type: TypeUnsignedInt, Text: strconv.FormatUint(uint64(u), 10)}
}

// Long makes a long value.
func Long(i int64) Value { return Value{Type: TypeLong, Text: strconv.FormatInt(i, 10)} }

// ULong makes an unsignedLong value.
func ULong(u uint64) Value { return Value{Type: TypeUnsignedLong, Text: strconv.FormatUint(u, 10)} }

// Time makes a dateTime value in UTC without fractional seconds.
func Time(t time.Time) Value { return Value{Type: TypeDateTime, Text: FormatDateTime(t, false)} }

// Base64 makes a base64 value.
func Base64(b []byte) Value {
	return Value{Type: TypeBase64, Text: base64.StdEncoding.EncodeToString(b)}
}

// HexBinary makes a hexBinary value.
func HexBinary(b []byte) Value { return Value{Type: TypeHexBinary, Text: hex.EncodeToString(b)} }

// ErrNotBoolean is returned by ParseBool for text that is no boolean literal.
var ErrNotBoolean = errors.New("cwmp: not a boolean")

// ParseBool reads the boolean literals devices use: true/false in any case,
// 1/0, and surrounding white space.
func ParseBool(s string) (bool, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "1" || strings.EqualFold(s, "true"):
		return true, nil
	case s == "0" || strings.EqualFold(s, "false"):
		return false, nil
	}
	return false, ErrNotBoolean
}

// Bool reads the value as a boolean.
func (v Value) Bool() (bool, error) { return ParseBool(v.Text) }

// Int64 reads the value as a signed integer. Leading zeros and surrounding
// white space are accepted.
func (v Value) Int64() (int64, error) { return strconv.ParseInt(strings.TrimSpace(v.Text), 10, 64) }

// Uint64 reads the value as an unsigned integer.
func (v Value) Uint64() (uint64, error) {
	return strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(v.Text, "+")), 10, 64)
}

// BigInt reads an integer of any size; devices send counters that overflow
// the declared type.
func (v Value) BigInt() (*big.Int, bool) {
	return new(big.Int).SetString(strings.TrimSpace(v.Text), 10)
}

// Time reads the value as a dateTime; see ParseDateTime.
func (v Value) Time() (time.Time, error) { return ParseDateTime(v.Text) }

// Bytes decodes base64 and hexBinary values.
func (v Value) Bytes() ([]byte, error) {
	t := strings.TrimSpace(v.Text)
	if v.Type == TypeHexBinary {
		return hex.DecodeString(t)
	}
	return base64.StdEncoding.DecodeString(t)
}

// ParameterValue is a ParameterValueStruct.
type ParameterValue struct {
	Name  string
	Value Value
}

// ParameterInfo is a ParameterInfoStruct of GetParameterNamesResponse.
type ParameterInfo struct {
	Name     string
	Writable bool
}

// UnknownTime is TR-106's "Unknown Time", which devices also send for a
// clock that is not set.
var UnknownTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrBadDateTime is returned for dateTime text that no leniency can read.
var ErrBadDateTime = errors.New("cwmp: unreadable dateTime")

// ParseDateTime reads an xsd:dateTime leniently: fractional seconds of any
// length, "Z", a numeric offset or none (taken as UTC, as a clockless CPE
// means local time that we cannot know), a space instead of "T", and the
// doubled colon some devices write. Empty text is the zero time and no error.
func ParseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	fixed := strings.Replace(s, " ", "T", 1)
	for strings.Contains(fixed, "::") {
		fixed = strings.ReplaceAll(fixed, "::", ":")
	}
	for _, layout := range dateTimeLayouts {
		if t, err := time.Parse(layout, fixed); err == nil {
			return t, nil
		}
	}
	return time.Time{}, ErrBadDateTime
}

var dateTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999-07",
	"2006-01-02T15:04",
	"2006-01-02",
}

// FormatDateTime writes t in UTC as xsd:dateTime. Many CPEs reject fractional
// seconds, so they are written only when millis is set.
func FormatDateTime(t time.Time, millis bool) string {
	t = t.UTC()
	if millis {
		return t.Format("2006-01-02T15:04:05.000Z")
	}
	return t.Format("2006-01-02T15:04:05Z")
}
