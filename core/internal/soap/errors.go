package soap

import (
	"errors"
	"strconv"
)

// Sentinel errors of the reader. Every error Decode and ReadBody return
// wraps exactly one of them, so a server can map it to a CWMP fault or an
// HTTP status with errors.Is.
var (
	// ErrMalformed: the body is not well-formed XML (truncated, mismatched
	// tags, undefined entity, bad attribute syntax).
	ErrMalformed = errors.New("soap: malformed XML")
	// ErrDTD: the body has a document type declaration. CWMP never needs
	// one, and entity definitions are how "billion laughs" attacks work.
	ErrDTD = errors.New("soap: document type declarations are not accepted")
	// ErrEncoding: invalid UTF-8, or a character set or content coding
	// the reader does not know.
	ErrEncoding = errors.New("soap: unsupported or invalid encoding")
	// ErrNotEnvelope: well-formed XML that is not a SOAP envelope.
	ErrNotEnvelope = errors.New("soap: not a SOAP envelope")

	// ErrTooLarge: the body exceeds Limits.MaxBytes (after decompression).
	ErrTooLarge = errors.New("soap: body too large")
	// ErrTooDeep: elements nest deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("soap: elements nested too deeply")
	// ErrTooManyElements: more elements than Limits.MaxElements.
	ErrTooManyElements = errors.New("soap: too many elements")
	// ErrTooManyAttributes: one element has more than Limits.MaxAttributes.
	ErrTooManyAttributes = errors.New("soap: too many attributes")
	// ErrStringTooLong: a text or attribute value exceeds Limits.MaxStringLen.
	ErrStringTooLong = errors.New("soap: string too long")
)

// Error is a reader error with the byte offset where it was found.
type Error struct {
	Err    error // one of the sentinel errors
	Offset int   // byte offset in the (decompressed) body, -1 if unknown
	Detail string
}

func (e *Error) Error() string {
	s := e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Offset >= 0 {
		s += " at byte " + strconv.Itoa(e.Offset)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// IsLimit reports whether err is a configured limit being exceeded, which a
// server answers with 413 rather than a fault about the message's content.
func IsLimit(err error) bool {
	return errors.Is(err, ErrTooLarge) || errors.Is(err, ErrTooDeep) ||
		errors.Is(err, ErrTooManyElements) || errors.Is(err, ErrTooManyAttributes) ||
		errors.Is(err, ErrStringTooLong)
}
