package script

import (
	"strings"
)

// CompareVersions orders firmware version strings the way operators read
// them: "6.49.10" < "7.1" < "7.1.1", "7.1beta3" < "7.1rc1" < "7.1", "v2.0"
// equals "2.0", and numbers compare as numbers ("1.10" > "1.9"). It returns
// -1, 0 or +1. A parenthesised note ("6.49.10 (long-term)") is ignored.
//
// Both sides are split into runs of digits and runs of letters; anything
// else separates. Runs compare pairwise: numbers numerically, words
// case-insensitively, and a number beats a word (a release part outranks a
// pre-release tag). When one side runs out, the longer side is newer if its
// next run is a number ("7.1.1" > "7.1") and older if it is a word ("7.1rc1"
// < "7.1").
func CompareVersions(a, b string) int {
	ta, tb := versionTokens(a), versionTokens(b)
	for i := 0; i < len(ta) || i < len(tb); i++ {
		switch {
		case i >= len(ta):
			if tb[i].num {
				return -1
			}
			return 1
		case i >= len(tb):
			if ta[i].num {
				return 1
			}
			return -1
		}
		x, y := ta[i], tb[i]
		switch {
		case x.num && y.num:
			if c := compareDigits(x.s, y.s); c != 0 {
				return c
			}
		case x.num:
			return 1
		case y.num:
			return -1
		default:
			if c := strings.Compare(strings.ToLower(x.s), strings.ToLower(y.s)); c != 0 {
				return c
			}
		}
	}
	return 0
}

type versionToken struct {
	s   string
	num bool
}

func versionTokens(v string) []versionToken {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '('); i > 0 {
		v = v[:i]
	}
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	var out []versionToken
	for i := 0; i < len(v); {
		c := v[i]
		j := i
		switch {
		case isDigit(c):
			for j < len(v) && isDigit(v[j]) {
				j++
			}
			out = append(out, versionToken{s: v[i:j], num: true})
		case isLetter(c):
			for j < len(v) && isLetter(v[j]) {
				j++
			}
			out = append(out, versionToken{s: v[i:j]})
		default:
			j++
		}
		i = j
	}
	return out
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// compareDigits compares decimal digit strings of any length.
func compareDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
