package sim

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/datamodel"
)

// Profile describes one kind of device: its identity, its wire behaviour
// and its parameter tree as it leaves the factory. A profile is immutable
// once built and shared by every simulated device of its kind; a device
// stores only what differs from it.
type Profile struct {
	Name         string
	Root         string // "Device." or "InternetGatewayDevice."
	Manufacturer string
	OUI          string
	ProductClass string
	// SerialPattern is a fmt pattern taking the device number.
	SerialPattern string
	// Namespace is the CWMP namespace of everything the device sends.
	Namespace string
	// SupportedVersions, when set, is sent as the SupportedCWMPVersions
	// header of the Inform (CWMP 1.4 devices).
	SupportedVersions string
	UserAgent         string
	Quirks            Quirks
	// Methods are the RPCs the device answers; others get fault 9000.
	Methods []string
	// InformParams are the parameters every Inform carries.
	InformParams []string
	// RandomCRPath gives each device a 40-hex-digit connection request
	// path instead of its serial number, as RouterOS does.
	RandomCRPath bool
	// CRRealm is the Digest realm of connection requests.
	CRRealm string
	// FileTypes are the Download file types the device accepts, and
	// UploadTypes the Upload ones; "X …" vendor types included.
	FileTypes   []string
	UploadTypes []string
	// vendor adds behaviour the standard does not describe (MikroTik's
	// .alter scripts and firmware descriptors).
	vendor vendorBehaviour
	// denyActive marks parameters the device refuses active notification
	// for, besides those flagged in the profile text.
	denyActive func(name string) bool

	entries []*entry          // the factory tree, in comparePaths order
	index   map[string]*entry // by name
	rows    map[string]*rowSchema
	maxInst map[string]uint32 // table path -> highest instance number present
}

// vendorBehaviour is what a vendor profile changes in file handling.
type vendorBehaviour interface {
	// download decides what a downloaded file does to the device.
	download(d *Device, req *cwmp.Download, body []byte) (effect transferEffect, fault cwmp.FaultStruct)
	// fetch retrieves the file of a Download; a vendor may fetch more than
	// one file (a firmware descriptor listing packages).
	fetch(d *Device, req *cwmp.Download) ([]byte, cwmp.FaultStruct)
}

// Quirks are switches for device behaviour that is legal, common or
// merely tolerated, so that tests can check the ACS copes with it.
type Quirks struct {
	// NumericBooleans writes booleans as 1/0.
	NumericBooleans bool
	// NoCookies never returns the cookies the ACS sets.
	NoCookies bool
	// ConnPerPost opens a new TCP connection for every POST of a session.
	ConnPerPost bool
	// NoXSIType leaves xsi:type off every Value.
	NoXSIType bool
	// BareBatch9005 faults a whole GetParameterValues with a 9005 that
	// does not say which name was bad.
	BareBatch9005 bool
	// NoInformHeader sends the Inform without a SOAP Header (no cwmp:ID).
	NoInformHeader bool
	// EncodingMustUnderstand puts mustUnderstand on the echoed cwmp:ID in
	// the SOAP-ENCODING namespace instead of the envelope's.
	EncodingMustUnderstand bool
	// RouterOSStyle writes the soapenv/soap prefixes and single-quoted
	// attributes RouterOS uses.
	RouterOSStyle bool
	// CountersAsUnsignedInt types 64-bit counters xsd:unsignedInt.
	CountersAsUnsignedInt bool
	// AbandonAfterConfigDownload stops talking in the middle of the
	// session after accepting a full configuration file, then reboots.
	AbandonAfterConfigDownload bool
}

// QuirkNames lists every quirk switch by its command-line name.
func QuirkNames() []string {
	var out []string
	for _, q := range quirkFields() {
		out = append(out, q.name)
	}
	return out
}

type quirkField struct {
	name string
	ptr  func(*Quirks) *bool
}

func quirkFields() []quirkField {
	return []quirkField{
		{"numeric-booleans", func(q *Quirks) *bool { return &q.NumericBooleans }},
		{"no-cookies", func(q *Quirks) *bool { return &q.NoCookies }},
		{"conn-per-post", func(q *Quirks) *bool { return &q.ConnPerPost }},
		{"no-xsi-type", func(q *Quirks) *bool { return &q.NoXSIType }},
		{"bare-9005", func(q *Quirks) *bool { return &q.BareBatch9005 }},
		{"no-inform-header", func(q *Quirks) *bool { return &q.NoInformHeader }},
		{"encoding-mustunderstand", func(q *Quirks) *bool { return &q.EncodingMustUnderstand }},
		{"routeros-style", func(q *Quirks) *bool { return &q.RouterOSStyle }},
		{"counters-as-unsignedint", func(q *Quirks) *bool { return &q.CountersAsUnsignedInt }},
		{"abandon-after-config", func(q *Quirks) *bool { return &q.AbandonAfterConfigDownload }},
	}
}

// Apply changes q by a comma-separated list: "name" turns a switch
// on, "-name" turns it off, "none" turns everything off.
func (q *Quirks) Apply(list string) error {
	fields := quirkFields()
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if item == "none" {
			*q = Quirks{}
			continue
		}
		on := !strings.HasPrefix(item, "-")
		name := strings.TrimLeft(item, "+-")
		i := slices.IndexFunc(fields, func(f quirkField) bool { return f.name == name })
		if i < 0 {
			return fmt.Errorf("unknown quirk %q (known: %s)", name, strings.Join(QuirkNames(), ", "))
		}
		*fields[i].ptr(q) = on
	}
	return nil
}

// String lists the switches that are on.
func (q Quirks) String() string {
	var on []string
	for _, f := range quirkFields() {
		if *f.ptr(&q) {
			on = append(on, f.name)
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, ",")
}

type entryKind uint8

const (
	kindParam entryKind = iota
	kindObject
	kindTable // a multi-instance object without instance: "Device.NAT.PortMapping."
)

type entryFlag uint8

const (
	// flagDenyActive: active notification is refused (9009).
	flagDenyActive entryFlag = 1 << iota
	// flagForcedActive: notification is always active and cannot be
	// turned off (TR-069's forced active notification parameters).
	flagForcedActive
	// flagHidden: the value reads back empty (passwords).
	flagHidden
	// flagDynamic: the simulator changes the value over time.
	flagDynamic
)

// generator names a per-device value: the profile cannot hold a serial
// number or a MAC address for 100,000 devices, so these are computed from
// the device on each read.
type generator uint8

const (
	genNone generator = iota
	genSerial
	genMAC      // arg: offset from the device's base address
	genWANIP    // the device's WAN address
	genWANGW    // its gateway
	genCRURL    // connection request URL
	genCRUser   // initial connection request user name
	genCRPass   // initial connection request password
	genACSURL   // the ACS URL the device was started with
	genACSUser  // CPE -> ACS credentials
	genACSPass  //
	genUptime   // seconds since boot
	genNow      // current time
	genBootTime // time of the last boot
	genCounter  // a monotonic counter advancing with traffic ticks
	genGauge    // a value in [arg, arg2] redrawn at each tick
	genCount    // NumberOfEntries of the sibling table
	genInterval // periodic inform interval in seconds
	genPeriodic // periodic inform enabled
	genHostMAC  // arg: LAN host number
	genHostIP   // arg: LAN host number
	genSSID     // arg: SSID number
	genWiFiKey  // arg: SSID number
	genToken    // the device's connection request token
	genRetryMin // CWMPRetryMinimumWaitInterval
	genRetryMul // CWMPRetryIntervalMultiplier
	genOUI
	genProductClass
	genManufacturer
)

var generators = map[string]generator{
	"serial": genSerial, "mac": genMAC, "wanip": genWANIP, "wangw": genWANGW,
	"crurl": genCRURL, "cruser": genCRUser, "crpass": genCRPass,
	"acsurl": genACSURL, "acsuser": genACSUser, "acspass": genACSPass,
	"uptime": genUptime, "now": genNow, "boottime": genBootTime,
	"counter": genCounter, "gauge": genGauge, "count": genCount,
	"interval": genInterval, "periodic": genPeriodic,
	"hostmac": genHostMAC, "hostip": genHostIP, "ssid": genSSID, "wifikey": genWiFiKey,
	"token": genToken, "retrymin": genRetryMin, "retrymul": genRetryMul,
	"oui": genOUI, "productclass": genProductClass, "manufacturer": genManufacturer,
}

// entry is one node of a tree: a parameter, an object or a table.
type entry struct {
	name      string
	typ       cwmp.Type // parameters only
	kind      entryKind
	writable  bool
	flags     entryFlag
	gen       generator
	arg, arg2 int32
	value     string
	hash      uint64 // of the name, for per-parameter randomness
}

func (e *entry) is(f entryFlag) bool { return e.flags&f != 0 }

// rowSchema is what AddObject creates for one row pattern: every
// parameter and non-table object below the row, and its nested tables,
// empty. Names are relative to the row.
type rowSchema struct {
	pattern  string
	writable bool
	items    []entry
}

// Entries returns the number of parameters and objects of the factory tree.
func (p *Profile) Entries() (params, objects int) {
	for _, e := range p.entries {
		if e.kind == kindParam {
			params++
		} else {
			objects++
		}
	}
	return params, objects
}

// supports reports whether the device answers method.
func (p *Profile) supports(method string) bool { return slices.Contains(p.Methods, method) }

// lowerBound is the index of the first factory entry not before name.
func (p *Profile) lowerBound(name string) int {
	return sort.Search(len(p.entries), func(i int) bool { return comparePaths(p.entries[i].name, name) >= 0 })
}

// ---- building profiles ----

// schemaItem is one data-model pattern known to a profile: the standard
// model's, or a vendor extension declared in the profile text.
type schemaItem struct {
	pattern  string
	typ      cwmp.Type
	object   bool
	writable bool
	def      string
	hasDef   bool
}

// builder turns a profile text into a Profile. The text lists the objects
// a device has, one per line ending in ".", each followed by indented
// parameter lines:
//
//	Name[:type[:w]] [!deny] [!active] [= value]
//
// A parameter of the standard model needs no type; a vendor one does. A
// value "${gen[:a[:b]]}" is computed per device (see generators). Rows
// (paths ending in an instance number) get every parameter and sub-object
// the model defines below them, as AddObject would create them; other
// objects get their own parameters and their tables, and sub-objects only
// when listed. An object line may end in "+w" to make a vendor table's
// rows creatable.
type builder struct {
	p      *Profile
	schema map[string]*schemaItem
	forced []string
	kids   map[string][]*schemaItem
}

func newBuilder(p *Profile, model string) *builder {
	b := &builder{p: p, schema: map[string]*schemaItem{}}
	for _, dm := range datamodel.All() {
		if !strings.HasPrefix(dm.Model, model+":") {
			continue
		}
		b.schema[dm.Pattern] = &schemaItem{
			pattern: dm.Pattern, typ: cwmp.Type(dm.Type), object: dm.Object,
			writable: dm.Writable, def: dm.Default, hasDef: dm.HasDefault,
		}
	}
	p.index = map[string]*entry{}
	p.rows = map[string]*rowSchema{}
	p.maxInst = map[string]uint32{}
	return b
}

type paramLine struct {
	name     string
	typ      cwmp.Type
	writable bool
	flags    entryFlag
	value    string
	hasValue bool
	lineNo   int
}

type objectBlock struct {
	path     string
	rowsW    bool
	params   []paramLine
	lineNo   int
	explicit map[string]*paramLine
}

func (b *builder) parse(text string) ([]*objectBlock, error) {
	var blocks []*objectBlock
	var cur *objectBlock
	for n, raw := range strings.Split(text, "\n") {
		lineNo := n + 1
		line := strings.TrimRight(raw, " \t\r")
		trim := strings.TrimSpace(line)
		if trim == "" || strings.HasPrefix(trim, "#") {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			path, flag, _ := strings.Cut(trim, " ")
			if !strings.HasSuffix(path, ".") {
				return nil, fmt.Errorf("line %d: object path %q must end in '.'", lineNo, path)
			}
			cur = &objectBlock{path: path, rowsW: strings.TrimSpace(flag) == "+w", lineNo: lineNo, explicit: map[string]*paramLine{}}
			blocks = append(blocks, cur)
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: parameter before any object", lineNo)
		}
		pl := paramLine{lineNo: lineNo}
		decl, value, hasValue := strings.Cut(trim, "=")
		pl.value, pl.hasValue = strings.TrimSpace(value), hasValue
		fields := strings.Fields(decl)
		if len(fields) == 0 {
			return nil, fmt.Errorf("line %d: no parameter name", lineNo)
		}
		parts := strings.Split(fields[0], ":")
		pl.name = parts[0]
		if len(parts) > 1 {
			pl.typ = cwmp.ParseType(parts[1])
			if !pl.typ.Known() {
				return nil, fmt.Errorf("line %d: unknown type %q", lineNo, parts[1])
			}
		}
		if len(parts) > 2 {
			pl.writable = parts[2] == "w"
		}
		for _, f := range fields[1:] {
			switch f {
			case "!deny":
				pl.flags |= flagDenyActive
			case "!active":
				pl.flags |= flagForcedActive
			default:
				return nil, fmt.Errorf("line %d: unknown flag %q", lineNo, f)
			}
		}
		cur.params = append(cur.params, pl)
	}
	// explicit points into params; rebuild after the appends moved them.
	for _, blk := range blocks {
		for i := range blk.params {
			blk.explicit[blk.params[i].name] = &blk.params[i]
		}
	}
	return blocks, nil
}

// build assembles the profile from its text.
func (b *builder) build(text string) (*Profile, error) {
	blocks, err := b.parse(text)
	if err != nil {
		return nil, err
	}
	// Vendor declarations extend the schema first, so that rows declared
	// later (and AddObject) know them.
	for _, blk := range blocks {
		pat := patternOf(blk.path)
		b.declare(pat)
		if blk.rowsW {
			b.schema[pat].writable = true
		}
		for _, pl := range blk.params {
			ppat := pat + pl.name
			if pl.typ == "" {
				if s, ok := b.schema[ppat]; !ok || s.object {
					return nil, fmt.Errorf("line %d: %s is not in the %s model; give its type", pl.lineNo, blk.path+pl.name, b.p.Root)
				}
				continue
			}
			b.schema[ppat] = &schemaItem{pattern: ppat, typ: pl.typ, writable: pl.writable}
			b.declare(parentObject(ppat))
		}
	}
	for _, blk := range blocks {
		if err := b.addObject(blk.path, blk); err != nil {
			return nil, err
		}
	}
	p := b.p
	for _, name := range b.forced {
		e, ok := p.index[name]
		if !ok {
			return nil, fmt.Errorf("forced notification parameter %s is not in the tree", name)
		}
		e.flags |= flagForcedActive
	}
	for _, name := range p.InformParams {
		if _, ok := p.index[name]; !ok {
			return nil, fmt.Errorf("inform parameter %s is not in the tree", name)
		}
	}
	p.entries = p.entries[:0]
	for _, e := range p.index {
		p.entries = append(p.entries, e)
	}
	slices.SortFunc(p.entries, func(a, b *entry) int { return comparePaths(a.name, b.name) })
	for _, e := range p.entries {
		if e.kind == kindObject && isRow(e.name) {
			table := parentObject(e.name)
			n, _ := strconv.ParseUint(strings.TrimSuffix(e.name[len(table):], "."), 10, 32)
			p.maxInst[table] = max(p.maxInst[table], uint32(n))
		}
	}
	return p, nil
}

// addObject puts an object and everything the rules above give it into
// the tree.
func (b *builder) addObject(path string, blk *objectBlock) error {
	if _, ok := b.p.index[path]; ok && blk == nil {
		return nil
	}
	// Ancestors first: every object on the way, and the table object of
	// every row on the way.
	row := isRow(path)
	parent := parentObject(path)
	if row {
		parent = parentObject(parent)
	}
	if parent != "" {
		if _, ok := b.p.index[parent]; !ok {
			if err := b.addObject(parent, nil); err != nil {
				return err
			}
		}
	}
	pat := patternOf(path)
	s, ok := b.schema[pat]
	if !ok || !s.object {
		return fmt.Errorf("%s is not an object of the %s model", path, b.p.Root)
	}
	if row {
		table := parentObject(path)
		if _, ok := b.p.index[table]; !ok {
			b.put(&entry{name: table, kind: kindTable, writable: s.writable})
		}
	}
	if _, ok := b.p.index[path]; !ok {
		b.put(&entry{name: path, kind: kindObject, writable: row && s.writable})
	}
	if blk != nil {
		for _, pl := range blk.params {
			if strings.Contains(pl.name, ".") {
				if _, ok := b.p.index[path+parentObject(pl.name)]; !ok {
					if err := b.addObject(path+parentObject(pl.name), nil); err != nil {
						return err
					}
				}
			}
		}
	}
	// The object's own parameters, its tables and, for rows, all its
	// sub-objects.
	for _, child := range b.children(pat) {
		rel := child.pattern[len(pat):]
		name := path + rel
		switch {
		case !child.object:
			e := b.param(name, child, rowInstance(path))
			if blk != nil {
				if pl, ok := blk.explicit[rel]; ok {
					if err := b.apply(e, pl); err != nil {
						return err
					}
				}
			}
			b.put(e)
		case strings.HasSuffix(rel, "{i}."):
			table := path + strings.TrimSuffix(rel, "{i}.")
			if _, ok := b.p.index[table]; !ok {
				b.put(&entry{name: table, kind: kindTable, writable: child.writable})
			}
			b.rowSchema(child.pattern)
		case row:
			if err := b.addObject(name, nil); err != nil {
				return err
			}
		}
	}
	if blk != nil {
		// Parameters of listed sub-objects ("Security.ModeEnabled").
		for i := range blk.params {
			pl := &blk.params[i]
			if !strings.Contains(pl.name, ".") {
				if _, ok := b.p.index[path+pl.name]; !ok {
					return fmt.Errorf("line %d: %s is not a parameter of %s", pl.lineNo, pl.name, path)
				}
				continue
			}
			e, ok := b.p.index[path+pl.name]
			if !ok {
				return fmt.Errorf("line %d: %s is not a parameter of %s", pl.lineNo, pl.name, path)
			}
			if err := b.apply(e, pl); err != nil {
				return err
			}
		}
	}
	if row {
		b.rowSchema(pat)
	}
	return nil
}

// declare makes an object pattern and its ancestors known, for vendor
// objects the standard model lacks. Table levels ("…Chain." above
// "…Chain.{i}.") are implied by their rows and not recorded.
func (b *builder) declare(pat string) {
	for o := pat; o != ""; {
		if _, ok := b.schema[o]; !ok {
			b.schema[o] = &schemaItem{pattern: o, object: true}
		}
		up := parentObject(o)
		if strings.HasSuffix(o, ".{i}.") {
			up = parentObject(up)
		}
		o = up
	}
}

// children lists the schema items directly below an object pattern:
// parameters, sub-objects and table row patterns ("X.{i}." counts as a
// child of the object holding table X).
func (b *builder) children(pat string) []*schemaItem {
	if b.kids == nil {
		b.kids = map[string][]*schemaItem{}
		for p, s := range b.schema {
			up := parentObject(p)
			if s.object && strings.HasSuffix(p, ".{i}.") {
				up = parentObject(up)
			}
			if up != "" {
				b.kids[up] = append(b.kids[up], s)
			}
		}
		for _, list := range b.kids {
			slices.SortFunc(list, func(a, b *schemaItem) int { return comparePaths(a.pattern, b.pattern) })
		}
	}
	return b.kids[pat]
}

func rowInstance(path string) string {
	for p := path; p != ""; p = parentObject(p) {
		if isRow(p) {
			s := strings.TrimSuffix(p, ".")
			return s[strings.LastIndexByte(s, '.')+1:]
		}
	}
	return ""
}

// param makes a parameter entry with its factory value: the model default,
// or a value generated for the kind of parameter it is.
func (b *builder) param(name string, s *schemaItem, inst string) *entry {
	e := &entry{name: name, typ: s.typ, kind: kindParam, writable: s.writable, hash: hashString(name)}
	if s.hasDef {
		e.value = s.def
	} else {
		e.value = zeroValue(s.typ)
	}
	leaf := name[strings.LastIndexByte(name, '.')+1:]
	switch {
	case leaf == "Alias" && inst != "":
		e.value = "cpe-" + inst
	case strings.HasSuffix(leaf, "NumberOfEntries"):
		e.gen = genCount
	case strings.Contains("."+name, ".Stats.") && (s.typ == cwmp.TypeUnsignedInt || s.typ == cwmp.TypeUnsignedLong):
		e.gen, e.flags = genCounter, flagDynamic
	}
	if hiddenName(leaf) {
		e.flags |= flagHidden
	}
	if b.p.denyActive != nil && b.p.denyActive(name) {
		e.flags |= flagDenyActive
	}
	return e
}

// apply sets what a profile line says about a parameter.
func (b *builder) apply(e *entry, pl *paramLine) error {
	e.flags |= pl.flags
	if !pl.hasValue {
		return nil
	}
	v := pl.value
	if strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") {
		parts := strings.Split(v[2:len(v)-1], ":")
		g, ok := generators[parts[0]]
		if !ok {
			return fmt.Errorf("line %d: unknown generator %q", pl.lineNo, parts[0])
		}
		e.gen, e.value = g, ""
		for i, a := range parts[1:] {
			n, err := strconv.ParseInt(a, 10, 32)
			if err != nil {
				return fmt.Errorf("line %d: generator argument %q", pl.lineNo, a)
			}
			if i == 0 {
				e.arg = int32(n)
			} else {
				e.arg2 = int32(n)
			}
		}
		if g == genCounter || g == genGauge || g == genUptime || g == genNow {
			e.flags |= flagDynamic
		}
		return nil
	}
	e.gen = genNone
	e.flags &^= flagDynamic
	if !validValue(e.typ, v) {
		return fmt.Errorf("line %d: %q is not a valid %s", pl.lineNo, v, e.typ)
	}
	if e.typ == cwmp.TypeBoolean {
		bv, _ := cwmp.ParseBool(v)
		v = strconv.FormatBool(bv)
	}
	e.value = v
	return nil
}

func (b *builder) put(e *entry) {
	if e.hash == 0 {
		e.hash = hashString(e.name)
	}
	b.p.index[e.name] = e
}

// rowSchema records what AddObject creates for a row pattern, and does the
// same for the tables nested in it.
func (b *builder) rowSchema(rowPat string) {
	if _, ok := b.p.rows[rowPat]; ok {
		return
	}
	s := b.schema[rowPat]
	rs := &rowSchema{pattern: rowPat, writable: s != nil && s.writable}
	b.p.rows[rowPat] = rs
	var walk func(pat string)
	walk = func(pat string) {
		for _, child := range b.children(pat) {
			rel := child.pattern[len(rowPat):]
			switch {
			case !child.object:
				e := b.param(rel, child, "")
				rs.items = append(rs.items, *e)
			case strings.HasSuffix(child.pattern[len(pat):], "{i}."):
				rs.items = append(rs.items, entry{name: strings.TrimSuffix(rel, "{i}."), kind: kindTable, writable: child.writable})
				b.rowSchema(child.pattern)
			default:
				rs.items = append(rs.items, entry{name: rel, kind: kindObject})
				walk(child.pattern)
			}
		}
	}
	walk(rowPat)
}

func zeroValue(t cwmp.Type) string {
	switch t {
	case cwmp.TypeInt, cwmp.TypeUnsignedInt, cwmp.TypeLong, cwmp.TypeUnsignedLong:
		return "0"
	case cwmp.TypeBoolean:
		return "false"
	case cwmp.TypeDateTime:
		return "0001-01-01T00:00:00Z"
	}
	return ""
}

// hiddenName reports parameters that TR-181 and TR-098 say read back as an
// empty string.
func hiddenName(leaf string) bool {
	for _, s := range []string{"Password", "Passphrase", "PreSharedKey", "WEPKey", "Secret", "KeyPassphrase"} {
		if strings.HasSuffix(leaf, s) {
			return true
		}
	}
	return false
}

var (
	profileMu    sync.Mutex
	profileCache = map[string]*Profile{}
)

// ProfileNames lists the built-in profiles.
func ProfileNames() []string { return []string{"tr181", "tr098", "mikrotik"} }

// LookupProfile returns a built-in profile by name, building it on first
// use.
func LookupProfile(name string) (*Profile, error) {
	profileMu.Lock()
	defer profileMu.Unlock()
	if p, ok := profileCache[name]; ok {
		return p, nil
	}
	var (
		p   *Profile
		err error
	)
	switch name {
	case "tr181":
		p, err = buildTR181()
	case "tr098":
		p, err = buildTR098()
	case "mikrotik":
		p, err = buildMikroTik()
	default:
		return nil, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(ProfileNames(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	profileCache[name] = p
	return p, nil
}
