package cwmp

import (
	"strconv"
	"strings"
)

// Namespaces of the CWMP schemas. CWMP 1.3 and 1.4 reuse the 1-2 namespace:
// there is no cwmp-1-3 or cwmp-1-4 namespace in any published schema.
const (
	NS10 = "urn:dslforum-org:cwmp-1-0"
	NS11 = "urn:dslforum-org:cwmp-1-1"
	NS12 = "urn:dslforum-org:cwmp-1-2"
)

// NamespacePrefix is what every CWMP namespace URN starts with. A namespace
// with this prefix that is not one of NS10, NS11 or NS12 is still accepted and
// echoed back, so that a CPE from the future does not break the session.
const NamespacePrefix = "urn:dslforum-org:cwmp-"

// IsNamespace reports whether ns looks like a CWMP namespace URN.
func IsNamespace(ns string) bool {
	return strings.HasPrefix(ns, NamespacePrefix) && len(ns) > len(NamespacePrefix)
}

// Version is a CWMP protocol version such as 1.0 or 1.4.
type Version struct{ Major, Minor int }

// Known protocol versions.
var (
	V10 = Version{1, 0}
	V11 = Version{1, 1}
	V12 = Version{1, 2}
	V13 = Version{1, 3}
	V14 = Version{1, 4}
)

// Supported lists the versions this implementation speaks, oldest first.
var Supported = []Version{V10, V11, V12, V13, V14}

func (v Version) String() string { return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	return v.Minor < w.Minor
}

// ParseVersion parses "1.4" (surrounding space allowed).
func ParseVersion(s string) (Version, bool) {
	s = strings.TrimSpace(s)
	maj, min, ok := strings.Cut(s, ".")
	if !ok {
		return Version{}, false
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil || a < 0 || b < 0 {
		return Version{}, false
	}
	return Version{a, b}, true
}

// ParseVersionList parses the comma-separated list of a SupportedCWMPVersions
// header, skipping entries it cannot read.
func ParseVersionList(s string) []Version {
	var out []Version
	for part := range strings.SplitSeq(s, ",") {
		if v, ok := ParseVersion(part); ok {
			out = append(out, v)
		}
	}
	return out
}

// FormatVersionList is the inverse of ParseVersionList.
func FormatVersionList(vs []Version) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// NamespaceFor gives the namespace a message of version v is written in.
func NamespaceFor(v Version) string {
	switch {
	case v.Less(V11):
		return NS10
	case v == V11:
		return NS11
	default:
		return NS12
	}
}

// VersionOfNamespace gives the lowest protocol version a namespace can carry.
// A cwmp-1-2 message may be 1.2, 1.3 or 1.4; only the header elements tell.
func VersionOfNamespace(ns string) (Version, bool) {
	switch ns {
	case NS10:
		return V10, true
	case NS11:
		return V11, true
	case NS12:
		return V12, true
	}
	if !IsNamespace(ns) {
		return Version{}, false
	}
	rest := strings.TrimPrefix(ns, NamespacePrefix)
	maj, min, ok := strings.Cut(rest, "-")
	if !ok {
		return Version{}, false
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil {
		return Version{}, false
	}
	return Version{a, b}, true
}

// Negotiate picks the version to use with a CPE that announced offered in a
// SupportedCWMPVersions header: the highest version both sides support. ok is
// false when there is none, which TR-069 answers with fault 8006.
func Negotiate(offered []Version) (v Version, ok bool) {
	for _, o := range offered {
		for _, s := range Supported {
			if o == s && (!ok || v.Less(o)) {
				v, ok = o, true
			}
		}
	}
	return v, ok
}
