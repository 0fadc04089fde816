package sim

import (
	"bytes"
	"strings"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/soap"
)

// encode writes a message the device sends. soap.Encode produces what the
// schemas want; the quirks then bend the bytes into what some real devices
// send instead, so that the ACS's tolerance is exercised on the wire.
func encode(dst []byte, env *cwmp.Envelope, q Quirks) []byte {
	start := len(dst)
	b := soap.Encode(dst, env, soap.Options{NumericBooleans: q.NumericBooleans})
	if q.EncodingMustUnderstand && env.Header.HasID {
		// RouterOS echoes the ID with mustUnderstand bound to the
		// SOAP-ENCODING namespace, which soap.Encode declares as soap-enc.
		b = bytes.Replace(b, []byte(`<cwmp:ID soap-env:mustUnderstand="1">`), []byte(`<cwmp:ID soap-enc:mustUnderstand="1">`), 1)
	}
	if !q.NoXSIType && !q.RouterOSStyle {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/16)
	out = append(out, b[:start]...)
	out = rewriteTags(out, b[start:], q)
	return out
}

// rewriteTags copies an encoded message, changing only the inside of tags.
// Character data needs no care: soap.Encode escapes every '<' and '>' in
// text and attribute values, so a tag is exactly a '<'…'>' run.
func rewriteTags(dst, src []byte, q Quirks) []byte {
	for len(src) > 0 {
		lt := bytes.IndexByte(src, '<')
		if lt < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:lt]...)
		gt := bytes.IndexByte(src[lt:], '>')
		if gt < 0 {
			return append(dst, src[lt:]...)
		}
		tag := string(src[lt : lt+gt+1])
		src = src[lt+gt+1:]
		if q.RouterOSStyle {
			if strings.HasPrefix(tag, "<?xml") {
				// RouterOS sends no XML declaration.
				src = bytes.TrimLeft(src, "\n")
				continue
			}
			tag = strings.ReplaceAll(tag, "soap-env", "soapenv")
			tag = strings.ReplaceAll(tag, "soap-enc", "soap")
			tag = strings.ReplaceAll(tag, `"`, `'`)
		}
		if q.NoXSIType && strings.HasPrefix(tag, "<Value ") {
			if i := strings.Index(tag, " xsi:type="); i >= 0 {
				quote := tag[i+len(" xsi:type=")]
				end := strings.IndexByte(tag[i+len(" xsi:type=")+1:], quote)
				if end >= 0 {
					tag = tag[:i] + tag[i+len(" xsi:type=")+1+end+1:]
				}
			}
		}
		dst = append(dst, tag...)
	}
	return dst
}
