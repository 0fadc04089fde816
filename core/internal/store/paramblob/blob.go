// Package paramblob is the compact binary form of a device's parameter tree:
// one blob per device instead of one row per parameter.
//
// A blob is
//
//	version byte (1) | compression byte | body
//
// with compression 0: body is the plain payload; 1: uvarint payload length,
// one zstd frame; 2: uvarint dictionary ID, uvarint payload length, one zstd
// frame compressed with that dictionary. The plain payload stores the tree
// column by column, since like data next to like data compresses best:
//
//	uvarint count, uvarint total length of all names
//	names:  per node, uvarint shared-prefix length with the previous name,
//	        uvarint suffix length, suffix bytes (front coding; names sorted)
//	flags:  per node, one byte: bits 0-1 writable (0 unknown, 1 no, 2 yes),
//	        bit 2 object, bit 3 has ReadAt, bit 4 has SetAt; bits 5-7 zero
//	types:  per node, uvarint: 0-9 index into the TR-106 type table
//	        (0 = empty), 10-15 reserved, n >= 16 a custom type of n-16 bytes
//	        that follow
//	values: per node, uvarint length, bytes
//	times:  per node with ReadAt, zigzag varint milliseconds since the
//	        previous ReadAt (the first since the Unix epoch); then the same
//	        for SetAt
//
// Times within a tree are mostly equal (read in the same session), so the
// deltas are mostly one zero byte.
//
// Dictionaries: devices of one model share almost all names and many
// values, but a 3 KB blob alone gives zstd little to learn from. A raw
// dictionary made of one typical tree of the model (DictContent) lets zstd
// refer to it instead, and shrinks blobs about 3x (≈2.9 KB to ≈0.9 KB for a
// 300-parameter gateway). Dictionaries are registered by ID with AddDict;
// the store decides which model uses which and persists them.
package paramblob

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"

	"github.com/provisor/provisor/core/internal/store"
)

const (
	version = 1

	compNone = 0
	compZstd = 1
	compDict = 2

	// Payloads below this size are stored plain: a zstd frame's own
	// overhead would eat the gain.
	minCompress = 96

	// MaxPayload bounds the decoded size of one tree (names, values and
	// structure). It protects the decoder from hostile or corrupt input.
	MaxPayload = 16 << 20

	// MaxDict caps a dictionary. Encoding time grows with the dictionary,
	// and the start of a payload (names) is what repeats most.
	MaxDict = 32 << 10

	typeCustom = 16
)

var knownTypes = [...]string{"", "string", "int", "unsignedInt", "long", "unsignedLong",
	"boolean", "dateTime", "base64", "hexBinary"}

// ErrCorrupt is returned (wrapping store.ErrCorrupt) for input that is no
// valid blob.
var ErrCorrupt = fmt.Errorf("%w: parameter blob", store.ErrCorrupt)

// Codec encodes and decodes trees. It is safe for concurrent use; make one
// per Store and Close it with the Store.
type Codec struct {
	enc *zstd.Encoder // no dictionary
	dec *zstd.Decoder // no dictionary

	// decs maps dictionary IDs to their decoders. Decoders are cheap (a few
	// KB), so every dictionary has one; the map is replaced, never
	// modified, so Decode reads it without a lock.
	decs atomic.Pointer[map[uint32]*zstd.Decoder]

	mu       sync.Mutex // guards the fields below and dictionary encoding
	contents map[uint32][]byte
	// encs holds encoders for recently used dictionaries, most recent
	// last. An encoder costs ~0.75 MB and ~2 ms to make, so only a few
	// are kept.
	encs    []dictEncoder
	maxEncs int

	// payloads recycles plain payload buffers between encodes.
	payloads sync.Pool
}

type dictEncoder struct {
	id  uint32
	enc *zstd.Encoder
}

// New makes a Codec that keeps up to maxDictEncoders dictionary encoders
// (0 means 32).
func New(maxDictEncoders int) (*Codec, error) {
	if maxDictEncoders <= 0 {
		maxDictEncoders = 32
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		// Encoding happens on the store's single writer goroutine; more
		// encoders would only hold memory.
		zstd.WithEncoderConcurrency(2),
		zstd.WithWindowSize(1<<20),
		zstd.WithLowerEncoderMem(true),
	)
	if err != nil {
		return nil, err
	}
	dec, err := newDecoder()
	if err != nil {
		enc.Close()
		return nil, err
	}
	c := &Codec{enc: enc, dec: dec, contents: map[uint32][]byte{}, maxEncs: maxDictEncoders}
	c.payloads.New = func() any { b := make([]byte, 0, 16<<10); return &b }
	c.decs.Store(&map[uint32]*zstd.Decoder{})
	return c, nil
}

func newDecoder(opts ...zstd.DOption) (*zstd.Decoder, error) {
	return zstd.NewReader(nil, append([]zstd.DOption{
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(MaxPayload),
		zstd.WithDecodeAllCapLimit(true),
	}, opts...)...)
}

// Close releases the codec's resources.
func (c *Codec) Close() {
	_ = c.enc.Close()
	c.dec.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.encs {
		_ = e.enc.Close()
	}
	c.encs = nil
	for _, d := range *c.decs.Load() {
		d.Close()
	}
}

// AddDict registers dictionary id (non-zero) with its content. Adding an
// ID again is a no-op.
func (c *Codec) AddDict(id uint32, content []byte) error {
	if id == 0 || len(content) == 0 || len(content) > MaxDict {
		return fmt.Errorf("paramblob: dictionary %d: bad id or size %d", id, len(content))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.contents[id]; ok {
		return nil
	}
	content = append([]byte(nil), content...)
	dec, err := newDecoder(zstd.WithDecoderDictRaw(id, content))
	if err != nil {
		return err
	}
	old := *c.decs.Load()
	next := make(map[uint32]*zstd.Decoder, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[id] = dec
	c.decs.Store(&next)
	c.contents[id] = content
	return nil
}

// HasDict reports whether dictionary id is registered.
func (c *Codec) HasDict(id uint32) bool {
	_, ok := (*c.decs.Load())[id]
	return ok
}

// encoder returns the encoder for dictionary id, making it if needed.
// Called with c.mu held.
func (c *Codec) encoder(id uint32) (*zstd.Encoder, error) {
	for i, e := range c.encs {
		if e.id == id {
			c.encs = append(append(c.encs[:i], c.encs[i+1:]...), e)
			return e.enc, nil
		}
	}
	content, ok := c.contents[id]
	if !ok {
		return nil, fmt.Errorf("paramblob: unknown dictionary %d", id)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderDictRaw(id, content),
		// With a dictionary the fastest level compresses within a few
		// percent of the default one, at a quarter of the encoder memory.
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20),
		zstd.WithLowerEncoderMem(true),
	)
	if err != nil {
		return nil, err
	}
	if len(c.encs) >= c.maxEncs {
		_ = c.encs[0].enc.Close()
		c.encs = c.encs[1:]
	}
	c.encs = append(c.encs, dictEncoder{id, enc})
	return enc, nil
}

// Encode appends the blob of t to dst, compressed with dictionary dictID
// (0: none). The names in t must be strictly increasing, as in a
// store.ParamTree.
func (c *Codec) Encode(dst []byte, t store.ParamTree, dictID uint32) ([]byte, error) {
	bp := c.payloads.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 1<<20 {
			c.payloads.Put(bp)
		}
	}()
	payload, err := appendPayload((*bp)[:0], t)
	if err != nil {
		return dst, err
	}
	*bp = payload
	start := len(dst)
	switch {
	case len(payload) < minCompress:
		dst = append(dst, version, compNone)
		return append(dst, payload...), nil
	case dictID == 0:
		dst = append(dst, version, compZstd)
		dst = binary.AppendUvarint(dst, uint64(len(payload)))
		dst = c.enc.EncodeAll(payload, dst)
	default:
		c.mu.Lock()
		enc, err := c.encoder(dictID)
		if err != nil {
			c.mu.Unlock()
			return dst, err
		}
		dst = append(dst, version, compDict)
		dst = binary.AppendUvarint(dst, uint64(dictID))
		dst = binary.AppendUvarint(dst, uint64(len(payload)))
		dst = enc.EncodeAll(payload, dst)
		c.mu.Unlock()
	}
	if len(dst)-start >= len(payload)+2 {
		// Incompressible: plain is smaller.
		dst = append(dst[:start], version, compNone)
		dst = append(dst, payload...)
	}
	return dst, nil
}

// DictID returns the dictionary a blob was compressed with, 0 for none.
func DictID(blob []byte) uint32 {
	if len(blob) < 3 || blob[1] != compDict {
		return 0
	}
	id, n := binary.Uvarint(blob[2:])
	if n <= 0 || id > 1<<32-1 {
		return 0
	}
	return uint32(id)
}

// secretWords mark parameters whose values must not be copied into a
// dictionary, which outlives the device it was made from.
var secretWords = []string{"password", "passphrase", "key", "secret", "credential", "psk", "token"}

// DictContent makes dictionary content from a typical tree of a model: its
// payload with the values of secret-looking parameters blanked, cut to
// MaxDict.
func DictContent(t store.ParamTree) ([]byte, error) {
	clean := make(store.ParamTree, len(t))
	for i, p := range t {
		lower := strings.ToLower(p.Name[strings.LastIndexByte(p.Name, '.')+1:])
		for _, w := range secretWords {
			if strings.Contains(lower, w) {
				p.Value = ""
				break
			}
		}
		clean[i] = p
	}
	payload, err := appendPayload(nil, clean)
	if err != nil {
		return nil, err
	}
	return payload[:min(len(payload), MaxDict)], nil
}

// Decode parses a blob. It never panics, whatever the input; the strings
// in the result do not alias blob, so blob may be reused afterwards.
func (c *Codec) Decode(blob []byte) (store.ParamTree, error) {
	if len(blob) < 2 {
		return nil, corrupt("short blob")
	}
	if blob[0] != version {
		return nil, corrupt("unknown version %d", blob[0])
	}
	body := blob[2:]
	dec := c.dec
	switch blob[1] {
	case compNone:
		return decodePayload(append([]byte(nil), body...))
	case compZstd:
	case compDict:
		id, n := binary.Uvarint(body)
		if n <= 0 {
			return nil, corrupt("bad dictionary id")
		}
		d, ok := (*c.decs.Load())[uint32(id)]
		if !ok || id > 1<<32-1 {
			return nil, corrupt("unknown dictionary %d", id)
		}
		dec, body = d, body[n:]
	default:
		return nil, corrupt("unknown compression %d", blob[1])
	}
	size, n := binary.Uvarint(body)
	if n <= 0 || size > MaxPayload {
		return nil, corrupt("bad payload size")
	}
	buf := make([]byte, 0, int(size))
	out, err := dec.DecodeAll(body[n:], buf)
	if err != nil {
		return nil, corrupt("zstd: %v", err)
	}
	if len(out) != int(size) {
		return nil, corrupt("payload is %d bytes, header says %d", len(out), size)
	}
	return decodePayload(out)
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func appendPayload(b []byte, t store.ParamTree) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(t)))
	total := 0
	for _, p := range t {
		total += len(p.Name)
	}
	b = binary.AppendUvarint(b, uint64(total))
	prev := ""
	for i, p := range t {
		if i > 0 && p.Name <= prev {
			return nil, fmt.Errorf("paramblob: names not strictly increasing at %q", p.Name)
		}
		shared := commonPrefix(prev, p.Name)
		b = binary.AppendUvarint(b, uint64(shared))
		b = binary.AppendUvarint(b, uint64(len(p.Name)-shared))
		b = append(b, p.Name[shared:]...)
		prev = p.Name
	}
	for _, p := range t {
		var f byte
		switch p.Writable {
		case store.WritableNo:
			f = 1
		case store.WritableYes:
			f = 2
		case store.WritableUnknown:
		default:
			return nil, fmt.Errorf("paramblob: %q: writable %d out of range", p.Name, p.Writable)
		}
		if p.Object {
			f |= 1 << 2
		}
		if !p.ReadAt.IsZero() {
			f |= 1 << 3
		}
		if !p.SetAt.IsZero() {
			f |= 1 << 4
		}
		b = append(b, f)
	}
	for _, p := range t {
		b = appendType(b, p.Type)
	}
	for _, p := range t {
		b = binary.AppendUvarint(b, uint64(len(p.Value)))
		b = append(b, p.Value...)
	}
	var last int64
	for _, p := range t {
		if !p.ReadAt.IsZero() {
			ms := p.ReadAt.UnixMilli()
			b = binary.AppendVarint(b, ms-last)
			last = ms
		}
	}
	last = 0
	for _, p := range t {
		if !p.SetAt.IsZero() {
			ms := p.SetAt.UnixMilli()
			b = binary.AppendVarint(b, ms-last)
			last = ms
		}
	}
	return b, nil
}

func appendType(b []byte, typ string) []byte {
	for i, k := range knownTypes {
		if k == typ {
			return append(b, byte(i))
		}
	}
	b = binary.AppendUvarint(b, uint64(typeCustom+len(typ)))
	return append(b, typ...)
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// reader is a bounds-checked cursor over the payload.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = corrupt(format, args...)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint at %d", r.off)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint at %d", r.off)
		return 0
	}
	r.off += n
	return v
}

// bytes returns the next n bytes as offsets into the payload.
func (r *reader) span(n uint64) (int, int) {
	if r.err != nil {
		return 0, 0
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail("length %d beyond end at %d", n, r.off)
		return 0, 0
	}
	s := r.off
	r.off += int(n)
	return s, r.off
}

// decodePayload owns payload: the values are returned as strings that
// share its memory, which is why it is never written after this call.
func decodePayload(payload []byte) (store.ParamTree, error) {
	r := &reader{b: payload}
	count := r.uvarint()
	namesLen := r.uvarint()
	// Every node takes at least 5 payload bytes (two name varints, flags,
	// type, value length), which bounds the allocations below.
	if r.err != nil || count > uint64(len(payload))/5 || namesLen > MaxPayload || namesLen < count {
		return nil, corrupt("bad node count or names length")
	}
	n := int(count)
	t := make(store.ParamTree, n)

	// All names go into one buffer of the announced size. Each name is a
	// string over its part of the buffer, made once its bytes are written;
	// later appends only add bytes after it, so no name's bytes ever change.
	arena := make([]byte, 0, int(namesLen))
	prevStart, prevLen := 0, 0
	for i := range t {
		shared := r.uvarint()
		s, e := r.span(r.uvarint())
		if r.err != nil {
			return nil, r.err
		}
		if shared > uint64(prevLen) {
			return nil, corrupt("node %d: shared prefix longer than previous name", i)
		}
		l := int(shared) + e - s
		if l == 0 || len(arena)+l > cap(arena) {
			return nil, corrupt("node %d: bad name length", i)
		}
		// The name repeats the previous one's first shared bytes, so the
		// order check only compares what follows them.
		if i > 0 && string(payload[s:e]) <= string(arena[prevStart+int(shared):prevStart+prevLen]) {
			return nil, corrupt("names not strictly increasing at node %d", i)
		}
		start := len(arena)
		arena = append(arena, arena[prevStart:prevStart+int(shared)]...)
		arena = append(arena, payload[s:e]...)
		t[i].Name = unsafe.String(&arena[start], l)
		prevStart, prevLen = start, l
	}
	if len(arena) != cap(arena) {
		return nil, corrupt("names shorter than announced")
	}

	flags, _ := r.span(uint64(n))
	if r.err != nil {
		return nil, r.err
	}
	flag := func(i int) byte { return payload[flags+i] }
	for i := range t {
		f := flag(i)
		switch f & 3 {
		case 0:
			t[i].Writable = store.WritableUnknown
		case 1:
			t[i].Writable = store.WritableNo
		case 2:
			t[i].Writable = store.WritableYes
		default:
			return nil, corrupt("bad writable flag")
		}
		if f&^0x1f != 0 {
			return nil, corrupt("unknown flag bits %#x", f)
		}
		t[i].Object = f&(1<<2) != 0
	}
	vals := unsafeString(payload)
	for i := range t {
		code := r.uvarint()
		switch {
		case code < uint64(len(knownTypes)):
			t[i].Type = knownTypes[code]
		case code >= typeCustom:
			s, e := r.span(code - typeCustom)
			t[i].Type = vals[s:e]
		default:
			r.fail("reserved type code %d", code)
		}
	}
	for i := range t {
		s, e := r.span(r.uvarint())
		t[i].Value = vals[s:e]
	}
	var last int64
	for i := range t {
		if flag(i)&(1<<3) != 0 {
			last += r.varint()
			t[i].ReadAt = time.UnixMilli(last).UTC()
		}
	}
	last = 0
	for i := range t {
		if flag(i)&(1<<4) != 0 {
			last += r.varint()
			t[i].SetAt = time.UnixMilli(last).UTC()
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(payload) {
		return nil, corrupt("%d trailing bytes", len(payload)-r.off)
	}
	return t, nil
}

// unsafeString views b as a string without copying. Callers guarantee b is
// never modified afterwards.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
