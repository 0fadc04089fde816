package paramblob

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/provisor/provisor/core/internal/store"
	"github.com/provisor/provisor/core/internal/store/storetest"
)

func newCodec(tb testing.TB) *Codec {
	tb.Helper()
	c, err := New(0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

func equalTrees(t *testing.T, got, want store.ParamTree) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d nodes, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Value != w.Value || g.Type != w.Type || g.Writable != w.Writable ||
			g.Object != w.Object || !g.ReadAt.Equal(w.ReadAt) || !g.SetAt.Equal(w.SetAt) {
			t.Fatalf("node %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 123e6, time.UTC)
	tests := []struct {
		name string
		tree store.ParamTree
	}{
		{"empty", store.ParamTree{}},
		{"one plain", store.ParamTree{{Name: "Device.", Object: true, Writable: store.WritableUnknown}}},
		{"all fields", store.ParamTree{
			{Name: "A.B", Value: "x", Type: "string", Writable: store.WritableYes, ReadAt: at, SetAt: at.Add(time.Second)},
			{Name: "A.C", Value: "", Type: "", Writable: store.WritableNo},
			{Name: "A.D.", Object: true, Writable: store.WritableUnknown},
			{Name: "A.E", Value: "ü\x00\xff", Type: "X_VENDOR_weird", Writable: store.WritableUnknown,
				ReadAt: time.UnixMilli(0).UTC(), SetAt: time.UnixMilli(-5).UTC()},
			{Name: "B", Value: strings.Repeat("long value ", 500), Type: "base64", ReadAt: at.Add(-time.Hour)},
		}},
		{"realistic", storetest.Tree(1, at)},
	}
	c := newCodec(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob, err := c.Encode(nil, tt.tree, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Decode(blob)
			if err != nil {
				t.Fatal(err)
			}
			equalTrees(t, got, tt.tree)
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	c := newCodec(t)
	tests := []struct {
		name string
		tree store.ParamTree
	}{
		{"unsorted", store.ParamTree{{Name: "B"}, {Name: "A"}}},
		{"duplicate", store.ParamTree{{Name: "A"}, {Name: "A"}}},
		{"writable", store.ParamTree{{Name: "A", Writable: 7}}},
	}
	for _, tt := range tests {
		if _, err := c.Encode(nil, tt.tree, 0); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	c := newCodec(t)
	good, _ := c.Encode(nil, store.ParamTree{{Name: "A", Value: "1"}, {Name: "AB", Value: "2"}}, 0)
	tests := []struct {
		name string
		blob []byte
	}{
		{"empty", nil},
		{"version", []byte{9, 0, 0}},
		{"compression", []byte{1, 7, 0}},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"huge count", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"zstd size lie", []byte{1, 1, 0x10, 0x28, 0xb5, 0x2f, 0xfd}},
		{"shared too long", []byte{1, 0, 1, 1, 1, 1, 'A', 0, 0, 0}},
		{"unsorted", []byte{1, 0, 2, 2, 0, 1, 'B', 0, 1, 'A', 0, 0, 0, 0, 0, 0}},
		{"sorted control", []byte{1, 0, 2, 2, 0, 1, 'A', 0, 1, 'B', 0, 0, 0, 0, 0, 0}},
		{"names length lie", []byte{1, 0, 2, 3, 0, 1, 'A', 0, 1, 'B', 0, 0, 0, 0, 0, 0}},
		{"bad flag", []byte{1, 0, 1, 1, 0, 1, 'A', 0x80, 0, 0}},
		{"reserved type", []byte{1, 0, 1, 1, 0, 1, 'A', 0, 12, 0}},
	}
	for _, tt := range tests {
		_, err := c.Decode(tt.blob)
		if tt.name == "sorted control" {
			// The same bytes as "unsorted" in order decode: the rejections
			// above are for the reason named.
			if err != nil {
				t.Errorf("control: %v", err)
			}
			continue
		}
		if !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", tt.name, err)
		}
	}
}

// TestSize reports the blob size of realistic trees without and with a
// model dictionary made from another device of the model.
func TestSize(t *testing.T) {
	c := newCodec(t)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	content, err := DictContent(storetest.Tree(10_000, at))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddDict(1, content); err != nil {
		t.Fatal(err)
	}
	const devices = 200
	var plain, nodes int
	sizes := map[uint32]int{}
	for i := range devices {
		tree := storetest.Tree(uint64(i), at)
		p, _ := appendPayload(nil, tree)
		plain += len(p)
		nodes += len(tree)
		for _, dict := range []uint32{0, 1} {
			blob, err := c.Encode(nil, tree, dict)
			if err != nil {
				t.Fatal(err)
			}
			if DictID(blob) != dict {
				t.Fatalf("DictID = %d, want %d", DictID(blob), dict)
			}
			back, err := c.Decode(blob)
			if err != nil {
				t.Fatal(err)
			}
			equalTrees(t, back, tree)
			sizes[dict] += len(blob)
		}
	}
	t.Logf("%d nodes/device, front-coded payload %d B, zstd %d B, zstd+model dictionary %d B (dictionary %d B)",
		nodes/devices, plain/devices, sizes[0]/devices, sizes[1]/devices, len(content))
	if sizes[0]/devices > 3200 || sizes[1]/devices > 1200 {
		t.Errorf("blobs larger than expected")
	}
}

func TestDictionaries(t *testing.T) {
	c := newCodec(t)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tree := storetest.Tree(1, at)
	content, _ := DictContent(tree)
	if strings.Contains(string(content), "secret-pass") {
		t.Fatal("dictionary holds a secret")
	}
	if _, err := c.Encode(nil, tree, 5); err == nil {
		t.Fatal("encoded with an unknown dictionary")
	}
	if err := c.AddDict(0, content); err == nil {
		t.Fatal("dictionary 0 accepted")
	}
	for id := uint32(1); id <= 3; id++ {
		if err := c.AddDict(id, content); err != nil {
			t.Fatal(err)
		}
	}
	blob, err := c.Encode(nil, tree, 2)
	if err != nil {
		t.Fatal(err)
	}
	// A codec without the dictionary cannot read the blob, and says so.
	other := newCodec(t)
	if _, err := other.Decode(blob); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("decode without dictionary: %v", err)
	}
	// With more dictionaries than cached encoders, all still work.
	small, _ := New(1)
	defer small.Close()
	for id := uint32(1); id <= 3; id++ {
		_ = small.AddDict(id, content)
	}
	for range 2 {
		for id := uint32(1); id <= 3; id++ {
			b, err := small.Encode(nil, tree, id)
			if err != nil {
				t.Fatal(err)
			}
			back, err := small.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			equalTrees(t, back, tree)
		}
	}
}

func BenchmarkDecode300(b *testing.B) {
	c := newCodec(b)
	tree := storetest.Tree(7, time.Now())
	blob, _ := c.Encode(nil, tree, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(blob)))
	for b.Loop() {
		if _, err := c.Decode(blob); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode300(b *testing.B) {
	c := newCodec(b)
	tree := storetest.Tree(7, time.Now())
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = c.Encode(buf[:0], tree, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParamBlob(f *testing.F) {
	c := newCodec(f)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	content, _ := DictContent(storetest.Tree(99, at))
	if err := c.AddDict(1, content); err != nil {
		f.Fatal(err)
	}
	for _, tree := range []store.ParamTree{
		{},
		{{Name: "A", Value: "v", Type: "int", ReadAt: at}},
		{{Name: "A.", Object: true}, {Name: "A.B", Value: "x", Type: "X_Y", Writable: 1, SetAt: at}},
		storetest.Tree(3, at),
	} {
		for _, dict := range []uint32{0, 1} {
			blob, err := c.Encode(nil, tree, dict)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(blob)
		}
		p, _ := appendPayload(nil, tree)
		f.Add(append([]byte{version, compNone}, p...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tree, err := c.Decode(data)
		if err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		// Whatever decodes must be a valid tree that re-encodes to the
		// same content.
		again, err := c.Encode(nil, tree, DictID(data))
		if err != nil {
			t.Fatalf("decoded tree does not re-encode: %v", err)
		}
		back, err := c.Decode(again)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(back) != fmt.Sprint(tree) {
			t.Fatal("re-encoded tree differs")
		}
	})
}
