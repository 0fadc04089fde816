package soap

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// scanner is a small pull parser for the XML subset SOAP uses: elements,
// attributes, text, CDATA, comments and processing instructions. It refuses
// document type declarations, so no entity can expand, and it checks every
// limit as it goes. It works on the whole body in memory (which ReadBody has
// already bounded) and hands out sub-slices, so that reading a message costs
// little more than the strings the caller keeps.
//
// Errors are sticky: after the first one every method returns zero values
// and err stays set, which keeps the decoding code free of error plumbing.
type scanner struct {
	d   []byte
	pos int
	lim Limits
	err error

	elems int
	stack [][]byte // qualified names of the open elements

	// The current start tag.
	qname     []byte
	local     []byte
	prefix    []byte
	attrs     []attr
	selfClose bool // the current start tag was <x/>; its end is pending

	ns  []nsDecl // every xmlns declaration seen, in document order
	buf []byte   // scratch for unescaping
}

type attr struct {
	prefix, local, val []byte
	amp                bool // val holds a reference to unescape
}

type nsDecl struct {
	prefix string
	uri    string
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
	tokText
)

func (s *scanner) fail(sentinel error, detail string) {
	if s.err == nil {
		s.err = &Error{Err: sentinel, Offset: s.pos, Detail: detail}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// nameEnd returns the index after the XML name starting at i.
func (s *scanner) nameEnd(i int) int {
	d := s.d
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r', '/', '>', '=', '<', '"', '\'':
			return i
		}
		i++
	}
	return i
}

func splitName(q []byte) (prefix, local []byte) {
	if i := bytes.IndexByte(q, ':'); i >= 0 {
		return q[:i], q[i+1:]
	}
	return nil, q
}

// token advances to the next start tag, end tag or text run. Comments and
// processing instructions are skipped. For text, the run is d[a:b] and amp
// says whether it holds references; CDATA sections come back as text with
// cdata set.
func (s *scanner) token() (k tokKind, a, b int, amp, cdata bool) {
	if s.err != nil {
		return tokEOF, 0, 0, false, false
	}
	if s.selfClose {
		s.selfClose = false
		s.stack = s.stack[:len(s.stack)-1]
		return tokEnd, 0, 0, false, false
	}
	d := s.d
	for {
		if s.pos >= len(d) {
			if len(s.stack) > 0 {
				s.fail(ErrMalformed, "unexpected end of input inside <"+string(s.stack[len(s.stack)-1])+">")
			}
			return tokEOF, 0, 0, false, false
		}
		if d[s.pos] != '<' {
			start := s.pos
			end := bytes.IndexByte(d[start:], '<')
			if end < 0 {
				end = len(d)
			} else {
				end += start
			}
			if end-start > s.lim.MaxStringLen {
				s.fail(ErrStringTooLong, "")
				return tokEOF, 0, 0, false, false
			}
			s.pos = end
			return tokText, start, end, bytes.IndexByte(d[start:end], '&') >= 0 || bytes.IndexByte(d[start:end], '\r') >= 0, false
		}
		if s.pos+1 >= len(d) {
			s.fail(ErrMalformed, "truncated markup")
			return tokEOF, 0, 0, false, false
		}
		switch d[s.pos+1] {
		case '/':
			return s.endTag()
		case '?':
			end := bytes.Index(d[s.pos+2:], []byte("?>"))
			if end < 0 {
				s.fail(ErrMalformed, "unterminated processing instruction")
				return tokEOF, 0, 0, false, false
			}
			s.pos += 2 + end + 2
			continue
		case '!':
			rest := d[s.pos+2:]
			switch {
			case bytes.HasPrefix(rest, []byte("--")):
				end := bytes.Index(rest[2:], []byte("-->"))
				if end < 0 {
					s.fail(ErrMalformed, "unterminated comment")
					return tokEOF, 0, 0, false, false
				}
				s.pos += 2 + 2 + end + 3
				continue
			case bytes.HasPrefix(rest, []byte("[CDATA[")):
				start := s.pos + 9
				end := bytes.Index(d[start:], []byte("]]>"))
				if end < 0 {
					s.fail(ErrMalformed, "unterminated CDATA section")
					return tokEOF, 0, 0, false, false
				}
				if end > s.lim.MaxStringLen {
					s.fail(ErrStringTooLong, "")
					return tokEOF, 0, 0, false, false
				}
				s.pos = start + end + 3
				return tokText, start, start + end, false, true
			case len(rest) >= 7 && string(bytes.ToUpper(rest[:7])) == "DOCTYPE":
				s.fail(ErrDTD, "")
				return tokEOF, 0, 0, false, false
			}
			s.fail(ErrMalformed, "unknown markup declaration")
			return tokEOF, 0, 0, false, false
		}
		return s.startTag()
	}
}

func (s *scanner) endTag() (tokKind, int, int, bool, bool) {
	d := s.d
	i := s.pos + 2
	e := s.nameEnd(i)
	name := d[i:e]
	for e < len(d) && isSpace(d[e]) {
		e++
	}
	if e >= len(d) || d[e] != '>' || len(name) == 0 {
		s.fail(ErrMalformed, "bad end tag")
		return tokEOF, 0, 0, false, false
	}
	if len(s.stack) == 0 {
		s.fail(ErrMalformed, "end tag </"+string(name)+"> without start tag")
		return tokEOF, 0, 0, false, false
	}
	if top := s.stack[len(s.stack)-1]; !bytes.Equal(top, name) {
		s.fail(ErrMalformed, "end tag </"+string(name)+"> does not match <"+string(top)+">")
		return tokEOF, 0, 0, false, false
	}
	s.stack = s.stack[:len(s.stack)-1]
	s.pos = e + 1
	return tokEnd, 0, 0, false, false
}

func (s *scanner) startTag() (tokKind, int, int, bool, bool) {
	d := s.d
	i := s.pos + 1
	e := s.nameEnd(i)
	if e == i {
		s.fail(ErrMalformed, "bad start tag")
		return tokEOF, 0, 0, false, false
	}
	s.qname = d[i:e]
	s.prefix, s.local = splitName(s.qname)
	s.attrs = s.attrs[:0]
	i = e
	for {
		for i < len(d) && isSpace(d[i]) {
			i++
		}
		if i >= len(d) {
			s.pos = i
			s.fail(ErrMalformed, "unterminated start tag")
			return tokEOF, 0, 0, false, false
		}
		if d[i] == '>' {
			i++
			break
		}
		if d[i] == '/' {
			if i+1 < len(d) && d[i+1] == '>' {
				i += 2
				s.selfClose = true
				break
			}
			s.pos = i
			s.fail(ErrMalformed, "bad start tag")
			return tokEOF, 0, 0, false, false
		}
		ne := s.nameEnd(i)
		if ne == i {
			s.pos = i
			s.fail(ErrMalformed, "bad attribute")
			return tokEOF, 0, 0, false, false
		}
		name := d[i:ne]
		i = ne
		for i < len(d) && isSpace(d[i]) {
			i++
		}
		if i >= len(d) || d[i] != '=' {
			s.pos = i
			s.fail(ErrMalformed, "attribute "+string(name)+" has no value")
			return tokEOF, 0, 0, false, false
		}
		i++
		for i < len(d) && isSpace(d[i]) {
			i++
		}
		if i >= len(d) || (d[i] != '"' && d[i] != '\'') {
			s.pos = i
			s.fail(ErrMalformed, "attribute "+string(name)+" value is not quoted")
			return tokEOF, 0, 0, false, false
		}
		q := d[i]
		vs := i + 1
		ve := bytes.IndexByte(d[vs:], q)
		if ve < 0 {
			s.pos = i
			s.fail(ErrMalformed, "unterminated attribute value")
			return tokEOF, 0, 0, false, false
		}
		ve += vs
		val := d[vs:ve]
		if len(val) > s.lim.MaxStringLen {
			s.pos = vs
			s.fail(ErrStringTooLong, "attribute "+string(name))
			return tokEOF, 0, 0, false, false
		}
		if bytes.IndexByte(val, '<') >= 0 {
			s.pos = vs
			s.fail(ErrMalformed, "'<' in attribute value")
			return tokEOF, 0, 0, false, false
		}
		i = ve + 1
		if len(s.attrs) >= s.lim.MaxAttributes {
			s.pos = vs
			s.fail(ErrTooManyAttributes, "")
			return tokEOF, 0, 0, false, false
		}
		p, l := splitName(name)
		a := attr{prefix: p, local: l, val: val, amp: bytes.IndexByte(val, '&') >= 0}
		s.attrs = append(s.attrs, a)
		if string(p) == "xmlns" {
			s.ns = append(s.ns, nsDecl{prefix: string(l), uri: s.attrValue(a)})
		} else if p == nil && string(l) == "xmlns" {
			s.ns = append(s.ns, nsDecl{uri: s.attrValue(a)})
		}
	}
	s.pos = i
	s.elems++
	if s.elems > s.lim.MaxElements {
		s.fail(ErrTooManyElements, "")
		return tokEOF, 0, 0, false, false
	}
	if len(s.stack) >= s.lim.MaxDepth {
		s.fail(ErrTooDeep, "")
		return tokEOF, 0, 0, false, false
	}
	s.stack = append(s.stack, s.qname)
	return tokStart, 0, 0, false, false
}

// attrValue returns an attribute's value with references resolved.
func (s *scanner) attrValue(a attr) string {
	if !a.amp {
		return string(a.val)
	}
	s.buf = s.unescape(s.buf[:0], a.val)
	return string(s.buf)
}

// attr finds an attribute of the current start tag by local name, in any
// namespace: devices put mustUnderstand and arrayType in whatever namespace
// they like.
func (s *scanner) attr(local string) (string, bool) {
	for _, a := range s.attrs {
		if string(a.local) == local && string(a.prefix) != "xmlns" {
			return s.attrValue(a), true
		}
	}
	return "", false
}

// attrRaw is attr without resolving references or allocating; for
// attributes whose values are names, such as xsi:type.
func (s *scanner) attrRaw(local string) ([]byte, bool) {
	for _, a := range s.attrs {
		if string(a.local) == local && string(a.prefix) != "xmlns" && !a.amp {
			return a.val, true
		}
	}
	return nil, false
}

// lookupNS resolves a prefix against every declaration seen so far. Scoping
// is ignored on purpose: CWMP messages declare each prefix once, and a
// tolerant answer beats a strict one here.
func (s *scanner) lookupNS(prefix string) string {
	for i := len(s.ns) - 1; i >= 0; i-- {
		if s.ns[i].prefix == prefix {
			return s.ns[i].uri
		}
	}
	return ""
}

// child advances to the next child start tag of the element whose content
// is being read, skipping text, comments and processing instructions. It
// returns false when that element's end tag has been consumed (or on error).
func (s *scanner) child() bool {
	for {
		k, a, b, amp, cdata := s.token()
		switch k {
		case tokStart:
			return true
		case tokEnd, tokEOF:
			return false
		case tokText:
			s.checkRefs(a, b, amp, cdata)
		}
	}
}

// checkRefs validates the references of text nobody reads, so that a
// message with an undefined entity is rejected wherever the entity is.
func (s *scanner) checkRefs(a, b int, amp, cdata bool) {
	if amp && !cdata {
		s.buf = s.unescape(s.buf[:0], s.d[a:b])
	}
}

// skip consumes the rest of the element whose start tag was just read.
func (s *scanner) skip() {
	depth := 1
	for depth > 0 {
		switch k, a, b, amp, cdata := s.token(); k {
		case tokStart:
			depth++
		case tokEnd:
			depth--
		case tokEOF:
			return
		case tokText:
			s.checkRefs(a, b, amp, cdata)
		}
	}
}

// text reads the character data of the element whose start tag was just
// read, up to and including its end tag, exactly as sent (references
// resolved, line ends normalised). Text inside nested elements is skipped:
// a value is what stands directly in its element.
func (s *scanner) text() string {
	var (
		single      []byte
		segments    int
		needsEscape bool
	)
	s.buf = s.buf[:0]
	depth := 1
	for depth > 0 {
		k, a, b, amp, cdata := s.token()
		switch k {
		case tokStart:
			depth++
		case tokEnd:
			depth--
		case tokEOF:
			return ""
		case tokText:
			if depth != 1 {
				s.checkRefs(a, b, amp, cdata)
				continue
			}
			segments++
			if segments == 1 && !amp {
				single = s.d[a:b]
				continue
			}
			if segments == 2 && !needsEscape {
				s.buf = append(s.buf, single...)
			}
			needsEscape = true
			if amp && !cdata {
				s.buf = s.unescape(s.buf, s.d[a:b])
			} else {
				s.buf = append(s.buf, s.d[a:b]...)
			}
			if len(s.buf) > s.lim.MaxStringLen {
				s.fail(ErrStringTooLong, "")
				return ""
			}
		}
	}
	if !needsEscape {
		return string(single)
	}
	return string(s.buf)
}

// unescape appends raw to dst with character and entity references
// resolved and CR LF / lone CR turned into LF, as XML requires. Only the
// five predefined entities exist: there is no DTD to define others.
func (s *scanner) unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\r' {
			dst = append(dst, '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			continue
		}
		if c != '&' {
			dst = append(dst, c)
			continue
		}
		end := bytes.IndexByte(raw[i:], ';')
		if end < 0 || end > 12 {
			s.fail(ErrMalformed, "unterminated reference")
			return dst
		}
		ref := raw[i+1 : i+end]
		i += end
		switch string(ref) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "quot":
			dst = append(dst, '"')
		case "apos":
			dst = append(dst, '\'')
		default:
			if len(ref) < 2 || ref[0] != '#' {
				s.fail(ErrMalformed, "undefined entity &"+string(ref)+";")
				return dst
			}
			var (
				n   uint64
				err error
			)
			if ref[1] == 'x' || ref[1] == 'X' {
				n, err = strconv.ParseUint(string(ref[2:]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(ref[1:]), 10, 32)
			}
			if err != nil || n > utf8.MaxRune {
				s.fail(ErrMalformed, "bad character reference &"+string(ref)+";")
				return dst
			}
			dst = utf8.AppendRune(dst, rune(n))
		}
	}
	return dst
}
