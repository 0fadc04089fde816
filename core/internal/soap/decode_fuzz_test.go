package soap

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds the reader arbitrary bytes, seeded with every real
// message. It must never panic, must fail only with its own error kinds,
// and whatever it reads must survive encode → decode → encode unchanged:
// the writer's output is the canonical form of what was understood.
func FuzzDecode(f *testing.F) {
	for _, pattern := range []string{"testdata/cwmp-corpus/messages/*.xml", "testdata/cwmp-xsd/examples/*.xml", "testdata/bench/*.xml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			f.Add(readFile(f, file))
		}
	}
	lim := Limits{MaxBytes: 1 << 20, MaxElements: 20_000}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Decode(data, lim)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			for _, kind := range []error{ErrMalformed, ErrDTD, ErrEncoding, ErrNotEnvelope, ErrTooLarge, ErrTooDeep, ErrTooManyElements, ErrTooManyAttributes, ErrStringTooLong} {
				if errors.Is(err, kind) {
					return
				}
			}
			t.Fatalf("error of no known kind: %v", err)
		}
		if env == nil {
			return
		}
		first := Encode(nil, env, Options{})
		again, err := Decode(first, Limits{})
		if err != nil {
			t.Fatalf("own output does not decode: %v\n%s", err, first)
		}
		second := Encode(nil, again, Options{})
		if !bytes.Equal(first, second) {
			t.Fatalf("not stable:\n%s\n%s", first, second)
		}
	})
}
