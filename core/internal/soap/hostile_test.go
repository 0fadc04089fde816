package soap

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/provisor/provisor/core/cwmp"
)

// allocated runs f and returns the bytes it allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// repeatReader yields pattern forever.
type repeatReader struct{ pattern []byte }

func (r repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], r.pattern)
	}
	return n, nil
}

func TestHostileInput(t *testing.T) {
	const memBound = 16 << 20 // a hostile message may cost at most a few times the 4 MiB body limit
	deep := "<Envelope><Body>" + strings.Repeat("<a>", 100_000) + strings.Repeat("</a>", 100_000) + "</Body></Envelope>"
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;">]><Envelope><Body>&lol9;</Body></Envelope>`
	hugeAttr := `<Envelope a="` + strings.Repeat("x", 3<<20) + `"><Body/></Envelope>`
	manyAttrs := "<Envelope" + strings.Repeat(` a="1"`, 1000) + "><Body/></Envelope>"
	manyElems := "<Envelope><Body>" + strings.Repeat("<a/>", 400_000) + "</Body></Envelope>"
	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"billion laughs", func() error { _, err := Decode([]byte(laughs), Limits{}); return err }, ErrDTD},
		{"100k-deep nesting", func() error { _, err := Decode([]byte(deep), Limits{}); return err }, ErrTooDeep},
		{"100 MB body", func() error {
			_, err := ReadBody(io.LimitReader(repeatReader{[]byte("<a>xxxxxxx</a>")}, 100<<20), "", "text/xml", Limits{})
			return err
		}, ErrTooLarge},
		{"100 MB gzip bomb", func() error {
			var z bytes.Buffer
			w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
			io.Copy(w, io.LimitReader(repeatReader{[]byte("          ")}, 100<<20))
			w.Close()
			_, err := ReadBody(&z, "gzip", "", Limits{})
			return err
		}, ErrTooLarge},
		{"invalid UTF-8", func() error {
			_, err := Decode(envelope(cwmp.NS10, "", informWith("<ParameterValueStruct><Name>\xc3\x28</Name></ParameterValueStruct>")), Limits{})
			return err
		}, ErrEncoding},
		{"huge attribute value", func() error { _, err := Decode([]byte(hugeAttr), Limits{}); return err }, ErrStringTooLong},
		{"huge text value", func() error {
			_, err := Decode(envelope(cwmp.NS10, "", informWith("<ParameterValueStruct><Name>A</Name><Value>"+strings.Repeat("v", 1<<20)+"</Value></ParameterValueStruct>")), Limits{})
			return err
		}, ErrStringTooLong},
		{"too many attributes", func() error { _, err := Decode([]byte(manyAttrs), Limits{}); return err }, ErrTooManyAttributes},
		{"too many elements", func() error { _, err := Decode([]byte(manyElems), Limits{}); return err }, ErrTooManyElements},
		{"body over the limit", func() error { _, err := Decode(make([]byte, 5<<20), Limits{}); return err }, ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			used := allocated(func() { err = c.run() })
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if c.name != "100 MB gzip bomb" && used > memBound { // the bomb's own compression is counted too
				t.Fatalf("allocated %d bytes", used)
			}
		})
	}
}

// Every prefix of a real message is either an error of the package's own
// kinds or, for the whole message, a success. None panics.
func TestTruncatedMessages(t *testing.T) {
	for _, name := range []string{"mikrotik-inform-1.xml", "thomson-fault-1.xml", "googlefiber-acs-setparametervalues-1.xml"} {
		data := readFile(t, "testdata/cwmp-corpus/messages/"+name)
		for cut := 0; cut < len(data)-1; cut++ {
			prefix := data[:cut]
			if IsEmpty(prefix) {
				continue
			}
			_, err := Decode(prefix, Limits{})
			if err == nil {
				// A prefix that ends right after the root's end tag is whole.
				if !bytes.Contains(prefix, []byte("Envelope>")) {
					t.Fatalf("%s cut at %d decoded without error", name, cut)
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotEnvelope) {
				t.Fatalf("%s cut at %d: unexpected error %v", name, cut, err)
			}
		}
	}
}

func TestReadBodyContentCodings(t *testing.T) {
	msg := envelope(cwmp.NS10, "", informWith(""))
	compress := func(kind string) []byte {
		var b bytes.Buffer
		var w io.WriteCloser
		switch kind {
		case "gzip":
			w = gzip.NewWriter(&b)
		case "zlib":
			w = zlib.NewWriter(&b)
		case "raw":
			w, _ = flate.NewWriter(&b, flate.DefaultCompression)
		}
		w.Write(msg)
		w.Close()
		return b.Bytes()
	}
	cases := []struct {
		name, encoding string
		body           []byte
		contentType    string
		want           error
	}{
		{"identity", "", msg, "text/xml", nil},
		{"no content type", "", msg, "", nil},
		{"application/soap+xml", "identity", msg, "application/soap+xml; charset=utf-8", nil},
		{"gzip", "gzip", compress("gzip"), "text/xml", nil},
		{"x-gzip", "x-gzip", compress("gzip"), "text/xml", nil},
		{"deflate (zlib)", "deflate", compress("zlib"), "text/xml", nil},
		{"deflate (raw)", "deflate", compress("raw"), "text/xml", nil},
		{"brotli refused", "br", msg, "text/xml", ErrEncoding},
		{"corrupt gzip", "gzip", []byte("not gzip at all"), "text/xml", ErrEncoding},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := ReadBody(bytes.NewReader(c.body), c.encoding, c.contentType, Limits{})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if c.want != nil {
				return
			}
			if !bytes.Equal(data, msg) {
				t.Fatalf("body changed: %q", data)
			}
		})
	}
	t.Run("latin1 content type", func(t *testing.T) {
		data, err := ReadBody(strings.NewReader("caf\xe9"), "", `text/xml; charset="ISO-8859-1"`, Limits{})
		if err != nil || string(data) != "café" {
			t.Fatalf("%q %v", data, err)
		}
	})
}

// TestReadBodySizes covers the edges of the pooled first buffer: bodies
// that fit it, fill it exactly or overflow it, each at, under and over the
// limit; and a body read never shares memory with the next one.
func TestReadBodySizes(t *testing.T) {
	const first = 16 << 10
	for _, size := range []int{0, 1, 2000, first - 1, first, first + 1, 3*first + 7} {
		body := bytes.Repeat([]byte("x"), size)
		for _, c := range []struct {
			max     int64
			tooBig  bool
			chunked bool
		}{
			{max: int64(size) + 1}, {max: int64(size)}, {max: int64(size), chunked: true},
			{max: int64(size) - 1, tooBig: size > 0},
		} {
			if c.max <= 0 {
				continue // Limits{} would mean the default
			}
			var r io.Reader = bytes.NewReader(body)
			if c.chunked {
				r = iotest.OneByteReader(r)
			}
			got, err := ReadBody(r, "", "", Limits{MaxBytes: c.max})
			switch {
			case c.tooBig && !errors.Is(err, ErrTooLarge):
				t.Errorf("size %d, max %d: err %v, want ErrTooLarge", size, c.max, err)
			case !c.tooBig && (err != nil || !bytes.Equal(got, body)):
				t.Errorf("size %d, max %d: %d bytes, err %v", size, c.max, len(got), err)
			}
		}
	}
	a, err := ReadBody(strings.NewReader("first body"), "", "", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadBody(strings.NewReader("the second"), "", "", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != "first body" || string(b) != "the second" {
		t.Fatalf("bodies share memory: %q %q", a, b)
	}
}
