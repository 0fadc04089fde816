package soap

// Limits bound what the reader accepts. They are checked while reading, so
// a hostile body is refused before it costs more than the limits allow.
// A zero field takes the default.
type Limits struct {
	MaxBytes      int64 // body size after decompression; default 4 MiB
	MaxDepth      int   // element nesting; default 32 (real CWMP needs about 8)
	MaxElements   int   // elements per message; default 300,000
	MaxAttributes int   // attributes per element; default 32
	MaxStringLen  int   // one text or attribute value, in bytes; default 256 KiB
}

// DefaultLimits are the limits used for zero fields.
var DefaultLimits = Limits{
	MaxBytes:      4 << 20,
	MaxDepth:      32,
	MaxElements:   300_000,
	MaxAttributes: 32,
	MaxStringLen:  256 << 10,
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultLimits.MaxElements
	}
	if l.MaxAttributes <= 0 {
		l.MaxAttributes = DefaultLimits.MaxAttributes
	}
	if l.MaxStringLen <= 0 {
		l.MaxStringLen = DefaultLimits.MaxStringLen
	}
	return l
}
