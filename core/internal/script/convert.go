package script

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/datamodel"
)

// typeFor picks the type of a parameter read from the device: the type the
// device gave, else the data model's, else string.
func typeFor(name, given string) cwmp.Type {
	if given != "" {
		t := cwmp.ParseType(given)
		if i := strings.LastIndexByte(string(t), ':'); i >= 0 {
			t = cwmp.ParseType(string(t)[i+1:])
		}
		return t
	}
	if t, ok := datamodel.TypeOf(name); ok {
		return cwmp.Type(t)
	}
	return cwmp.TypeString
}

// toJS turns a device value into the JavaScript value a script expects:
// numbers for the integer types, booleans, and strings for everything
// else (dateTime included, as ISO 8601 text). Text that does not parse as
// its type stays a string rather than being lost.
func (v *vm) toJS(name string, typ cwmp.Type, text string) goja.Value {
	if len(text) > v.e.opts.MaxStringLen {
		v.throwRange("%s: the device's value is %d bytes long; scripts accept at most %d", name, len(text), v.e.opts.MaxStringLen)
	}
	switch typ {
	case cwmp.TypeInt, cwmp.TypeLong:
		if n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64); err == nil {
			return v.rt.ToValue(n)
		}
	case cwmp.TypeUnsignedInt, cwmp.TypeUnsignedLong:
		if n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(text, "+")), 10, 64); err == nil {
			if n <= math.MaxInt64 {
				return v.rt.ToValue(int64(n))
			}
			return v.rt.ToValue(float64(n))
		}
	case "decimal":
		if f, err := strconv.ParseFloat(strings.TrimSpace(text), 64); err == nil {
			return v.rt.ToValue(f)
		}
	case cwmp.TypeBoolean:
		if b, err := cwmp.ParseBool(text); err == nil {
			return v.rt.ToValue(b)
		}
	}
	return v.rt.ToValue(text)
}

// fromJS turns a script's value for a parameter into a typed CWMP value.
// The type is, in order: what the script asked for explicitly ({value,
// type}), the data model's type, the type the device reported before, and
// last the JavaScript type.
func (v *vm) fromJS(name string, val goja.Value, known string) (cwmp.Value, error) {
	var typ cwmp.Type
	if o, ok := val.(*goja.Object); ok && o.ClassName() == "Object" {
		inner := o.Get("value")
		if inner == nil {
			return cwmp.Value{}, fmt.Errorf("%s: an object value needs a value field ({value, type})", name)
		}
		if t := o.Get("type"); t != nil && !goja.IsUndefined(t) {
			typ = cwmp.ParseType(strings.TrimPrefix(t.String(), "xsd:"))
			if !typ.Known() {
				return cwmp.Value{}, fmt.Errorf("%s: unknown type %q", name, t.String())
			}
		}
		val = inner
	}
	if typ == "" {
		if t, ok := datamodel.TypeOf(name); ok {
			typ = cwmp.Type(t)
		} else if known != "" {
			typ = typeFor(name, known)
		}
	}
	if typ == "" {
		typ = jsType(val)
	}
	text, err := v.textFor(name, typ, val)
	if err != nil {
		return cwmp.Value{}, err
	}
	return cwmp.Value{Type: typ, Text: text}, nil
}

// jsType is the CWMP type of a value whose parameter is unknown to both
// the data model and the device's history.
func jsType(val goja.Value) cwmp.Type {
	switch x := val.Export().(type) {
	case bool:
		return cwmp.TypeBoolean
	case int64:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return cwmp.TypeInt
		}
		return cwmp.TypeLong
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			if x >= math.MinInt32 && x <= math.MaxInt32 {
				return cwmp.TypeInt
			}
			return cwmp.TypeLong
		}
	case time.Time:
		return cwmp.TypeDateTime
	}
	return cwmp.TypeString
}

func (v *vm) textFor(name string, typ cwmp.Type, val goja.Value) (string, error) {
	if val == nil || goja.IsUndefined(val) || goja.IsNull(val) {
		return "", fmt.Errorf("%s: no value (%s)", name, typeName(val))
	}
	exp := val.Export()
	switch typ {
	case cwmp.TypeBoolean:
		switch x := exp.(type) {
		case bool:
			return strconv.FormatBool(x), nil
		case int64:
			if x == 0 || x == 1 {
				return strconv.FormatBool(x == 1), nil
			}
		case string:
			if b, err := cwmp.ParseBool(x); err == nil {
				return strconv.FormatBool(b), nil
			}
		}
		return "", fmt.Errorf("%s is a boolean; %s is not one", name, describe(val))
	case cwmp.TypeInt, cwmp.TypeUnsignedInt, cwmp.TypeLong, cwmp.TypeUnsignedLong:
		notInt := fmt.Errorf("%s is %s; %s is no integer", name, typ, describe(val))
		var n int64
		switch x := exp.(type) {
		case int64:
			n = x
		case float64:
			if x != math.Trunc(x) || math.IsInf(x, 0) || math.IsNaN(x) || math.Abs(x) >= 1<<63 {
				return "", notInt
			}
			n = int64(x)
		case string:
			s := strings.TrimSpace(x)
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				// Only an unsignedLong can hold more than an int64.
				if _, uerr := strconv.ParseUint(s, 10, 64); uerr == nil && typ == cwmp.TypeUnsignedLong {
					return s, nil
				}
				return "", notInt
			}
			n = i
		default:
			return "", notInt
		}
		if err := checkRange(name, typ, n); err != nil {
			return "", err
		}
		return strconv.FormatInt(n, 10), nil
	case cwmp.TypeDateTime:
		switch x := exp.(type) {
		case time.Time:
			return cwmp.FormatDateTime(x, false), nil
		case string:
			if _, err := cwmp.ParseDateTime(x); err != nil {
				return "", fmt.Errorf("%s is a dateTime; %q is none", name, x)
			}
			return x, nil
		}
		return "", fmt.Errorf("%s is a dateTime; give a Date or an ISO 8601 string, not %s", name, describe(val))
	}
	switch x := exp.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case time.Time:
		return cwmp.FormatDateTime(x, false), nil
	}
	return "", fmt.Errorf("%s: cannot send %s as a %s value", name, describe(val), typ)
}

func checkRange(name string, typ cwmp.Type, n int64) error {
	ok := true
	switch typ {
	case cwmp.TypeInt:
		ok = n >= math.MinInt32 && n <= math.MaxInt32
	case cwmp.TypeUnsignedInt:
		ok = n >= 0 && n <= math.MaxUint32
	case cwmp.TypeUnsignedLong:
		ok = n >= 0
	}
	if !ok {
		return fmt.Errorf("%s is %s; %d is out of its range", name, typ, n)
	}
	return nil
}

func describe(v goja.Value) string {
	switch v.Export().(type) {
	case string:
		return strconv.Quote(v.String())
	case int64, float64, bool:
		return v.String()
	}
	return typeName(v)
}
