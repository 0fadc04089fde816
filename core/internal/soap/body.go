package soap

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"mime"
	"strings"
	"sync"
	"unicode/utf8"
)

// ReadBody reads an HTTP request body, undoing a gzip or deflate
// Content-Encoding, and stops as soon as more than lim.MaxBytes have come
// out, so neither a large upload nor a compression bomb can use more memory
// than the limit. A charset other than UTF-8 named in contentType is
// converted to UTF-8 (ISO-8859-1 is the one old CPEs use).
func ReadBody(r io.Reader, contentEncoding, contentType string, lim Limits) ([]byte, error) {
	lim = lim.withDefaults()
	var src io.Reader = r
	switch enc := strings.ToLower(strings.TrimSpace(contentEncoding)); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, &Error{Err: ErrEncoding, Offset: -1, Detail: "bad gzip body: " + err.Error()}
		}
		defer zr.Close()
		src = zr
	case "deflate":
		// HTTP's "deflate" is zlib-wrapped, but some clients send raw
		// deflate; peek at the header to tell.
		head := make([]byte, 2)
		n, _ := io.ReadFull(r, head)
		head = head[:n]
		rest := io.MultiReader(bytes.NewReader(head), r)
		if n == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
			zr, err := zlib.NewReader(rest)
			if err != nil {
				return nil, &Error{Err: ErrEncoding, Offset: -1, Detail: "bad deflate body: " + err.Error()}
			}
			defer zr.Close()
			src = zr
		} else {
			fr := flate.NewReader(rest)
			defer fr.Close()
			src = fr
		}
	default:
		return nil, &Error{Err: ErrEncoding, Offset: -1, Detail: "content coding " + enc}
	}
	data, err := readLimited(src, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		if _, params, perr := mime.ParseMediaType(contentType); perr == nil {
			cs := params["charset"]
			if IsLatin1(cs) && !utf8.Valid(data) {
				data = latin1ToUTF8(data)
			}
		}
	}
	return data, nil
}

// scratch holds first-read buffers: most bodies (an empty POST, an Inform,
// an RPC response) fit in one, and are then copied out at their exact size
// instead of each request allocating a buffer of the largest common size.
var scratch = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// readLimited reads all of r, failing with ErrTooLarge as soon as more than
// max bytes arrive. The buffer grows by doubling but never past max+1, so
// the memory a hostile sender can make us hold is bounded by the limit.
// The result is the caller's own: never a pooled buffer.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	sp := scratch.Get().(*[]byte)
	first := (*sp)[:min(int64(len(*sp)), max+1)]
	n, err := fill(r, first)
	if err == io.EOF {
		out := make([]byte, n)
		copy(out, first)
		scratch.Put(sp)
		return out, nil
	}
	if err != nil {
		scratch.Put(sp)
		return nil, &Error{Err: ErrMalformed, Offset: n, Detail: "reading body: " + err.Error()}
	}
	// The first buffer is full: go on in one of our own.
	buf := make([]byte, n, min(int64(n)*2, max+1))
	copy(buf, first)
	scratch.Put(sp)
	for {
		if int64(len(buf)) > max {
			return nil, &Error{Err: ErrTooLarge, Offset: -1}
		}
		if len(buf) == cap(buf) {
			next := min(int64(cap(buf))*2, max+1)
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)) > max {
				return nil, &Error{Err: ErrTooLarge, Offset: -1}
			}
			return buf, nil
		}
		if err != nil {
			return nil, &Error{Err: ErrMalformed, Offset: len(buf), Detail: "reading body: " + err.Error()}
		}
	}
}

// fill reads into b until it is full (nil error), or r ends (io.EOF) or
// fails; n is what was read either way.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
