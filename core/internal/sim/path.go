package sim

import "strings"

// comparePaths orders parameter and object paths the way devices list them:
// segment by segment, instance numbers numerically ("SSID.2." before
// "SSID.10."), an object before everything under it. Every subtree is then
// one contiguous run, which is what lets a partial path be answered with a
// binary search and a scan.
func comparePaths(a, b string) int {
	for {
		sa, ra, oka := cutSegment(a)
		sb, rb, okb := cutSegment(b)
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return -1
		case !okb:
			return 1
		}
		if c := compareSegment(sa, sb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
}

// cutSegment splits the first segment off a path; the trailing dot of an
// object path ends the path rather than starting an empty segment.
func cutSegment(p string) (seg, rest string, ok bool) {
	if p == "" {
		return "", "", false
	}
	i := strings.IndexByte(p, '.')
	if i < 0 {
		return p, "", true
	}
	return p[:i], p[i+1:], true
}

func compareSegment(a, b string) int {
	if isNumber(a) && isNumber(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// patternOf replaces every instance number in a concrete path with "{i}",
// giving the data-model pattern ("Device.WiFi.SSID.2.SSID" becomes
// "Device.WiFi.SSID.{i}.SSID").
func patternOf(path string) string {
	var b strings.Builder
	b.Grow(len(path) + 8)
	for path != "" {
		seg, rest, _ := cutSegment(path)
		if isNumber(seg) {
			b.WriteString("{i}")
		} else {
			b.WriteString(seg)
		}
		if strings.HasPrefix(path[len(seg):], ".") {
			b.WriteByte('.')
		}
		path = rest
	}
	return b.String()
}

// parentObject is the object a path lives in: "A.B.C" and "A.B.C." both
// give "A.B.". The root object has no parent and gives "".
func parentObject(path string) string {
	p := strings.TrimSuffix(path, ".")
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return ""
	}
	return p[:i+1]
}

// isRow reports whether an object path names a table row ("A.B.3.").
func isRow(obj string) bool {
	p := strings.TrimSuffix(obj, ".")
	return isNumber(p[strings.LastIndexByte(p, '.')+1:])
}

// depth counts the segments of a path; objects and parameters at the same
// level have the same depth.
func depth(path string) int {
	return strings.Count(strings.TrimSuffix(path, "."), ".") + 1
}
