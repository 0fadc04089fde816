package nbi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// params reads query parameters and rejects any the route does not know,
// so that a misspelt filter fails loudly instead of returning everything.
type params struct {
	v     url.Values
	known []string
	err   *Problem
}

func queryParams(r *http.Request, known ...string) *params {
	return &params{v: r.URL.Query(), known: known}
}

func (p *params) fail(name, format string, args ...any) {
	if p.err == nil {
		p.err = badParam(name, format, args...)
	}
}

// done reports the first error, or an unknown parameter.
func (p *params) done() error {
	if p.err != nil {
		return p.err
	}
	names := make([]string, 0, len(p.v))
	for k := range p.v {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(p.known, k) {
			return badParam(k, "unknown query parameter; this route takes %s", strings.Join(p.known, ", "))
		}
	}
	return nil
}

func (p *params) str(name string) string {
	vs := p.v[name]
	if len(vs) > 1 {
		p.fail(name, "given more than once")
	}
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func (p *params) list(name string) []string {
	var out []string
	for _, v := range p.v[name] {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func (p *params) intIn(name string, def, lo, hi int) int {
	s := p.str(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.fail(name, "want an integer from %d to %d", lo, hi)
		return def
	}
	return n
}

func (p *params) int64(name string) int64 {
	s := p.str(name)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		p.fail(name, "want a non-negative integer")
	}
	return n
}

func (p *params) time(name string) time.Time {
	s := p.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		p.fail(name, "want an RFC 3339 time such as 2025-06-01T12:00:00Z")
	}
	return t
}

func (p *params) boolPtr(name string) *bool {
	s := p.str(name)
	if s == "" {
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.fail(name, "want true or false")
		return nil
	}
	return &b
}

// parseCond reads "<field><op><value>", e.g.
// "Device.DeviceInfo.SoftwareVersion!=7.13". The field ends at the first
// character that cannot be in a parameter path.
func parseCond(s string) (store.Cond, string) {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' {
			i++
			continue
		}
		break
	}
	field, rest := s[:i], s[i:]
	if field == "" {
		return store.Cond{}, "want <path><op><value>, e.g. Device.DeviceInfo.SoftwareVersion=7.13"
	}
	for _, op := range store.Ops {
		if v, ok := strings.CutPrefix(rest, string(op)); ok {
			c := store.Cond{Field: field, Op: op, Value: v}
			if !store.IsDeviceField(field) {
				if err := store.CheckParamPath(field); err != nil {
					return c, trimStorePrefix(err) + "; fields are parameter paths or one of " + strings.Join(store.DeviceFields, ", ")
				}
			}
			return c, ""
		}
	}
	return store.Cond{}, "after the path " + strconvQuote(field) + " want one of = != < <= > >= ^="
}

func strconvQuote(s string) string { return strconv.Quote(s) }
