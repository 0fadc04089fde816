package store

import (
	"fmt"
	"strings"
)

// DeviceIDFrom builds a device ID the way TR-069 recommends for the CPE's
// user name: OUI-ProductClass-SerialNumber, or OUI-SerialNumber when the
// product class is empty, each part percent-encoded as UTF-8 bytes.
//
// Every byte outside A-Z a-z 0-9 _ . ~ is encoded. That is RFC 3986's
// unreserved set minus "-": the hyphen is the separator, so encoding it
// inside the parts keeps the ID unambiguous ("A-B"/"C" and "A"/"B-C" differ)
// and makes SplitDeviceID exact.
func DeviceIDFrom(oui, productClass, serial string) string {
	var b strings.Builder
	b.Grow(len(oui) + len(productClass) + len(serial) + 8)
	escapePart(&b, oui)
	b.WriteByte('-')
	if productClass != "" {
		escapePart(&b, productClass)
		b.WriteByte('-')
	}
	escapePart(&b, serial)
	return b.String()
}

// SplitDeviceID undoes DeviceIDFrom. It fails for an ID that is not two or
// three parts or holds a broken escape.
func SplitDeviceID(id string) (oui, productClass, serial string, err error) {
	parts := strings.Split(id, "-")
	var dec [3]string
	for i, p := range parts {
		if i >= 3 {
			break
		}
		if dec[i], err = unescapePart(p); err != nil {
			return "", "", "", fmt.Errorf("%w: device id %q: %v", ErrInvalid, id, err)
		}
	}
	switch len(parts) {
	case 2:
		return dec[0], "", dec[1], nil
	case 3:
		return dec[0], dec[1], dec[2], nil
	}
	return "", "", "", Invalid("device id %q: want 2 or 3 parts", id)
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '~'
}

const upperHex = "0123456789ABCDEF"

func escapePart(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
}

func unescapePart(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated escape at %d", i)
		}
		h, ok1 := unhex(s[i+1])
		l, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("bad escape at %d", i)
		}
		out = append(out, h<<4|l)
		i += 2
	}
	return string(out), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
