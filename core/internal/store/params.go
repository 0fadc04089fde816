package store

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// ParamTree is a device's parameters sorted by name (byte order), names
// unique. Sorted order makes a lookup a binary search and a subtree
// ("Device.WiFi.") one contiguous sub-slice, with no map to build on read.
type ParamTree []Param

// Get returns the node with this exact name.
func (t ParamTree) Get(name string) (Param, bool) {
	i, ok := slices.BinarySearchFunc(t, name, cmpParamName)
	if !ok {
		return Param{}, false
	}
	return t[i], true
}

// Subtree returns the nodes whose names start with prefix. The result
// shares t's memory; its capacity is clipped so appending to it cannot
// overwrite t.
func (t ParamTree) Subtree(prefix string) ParamTree {
	if prefix == "" {
		return t
	}
	lo, _ := slices.BinarySearchFunc(t, prefix, cmpParamName)
	// Names with the prefix are contiguous from lo; find where they stop.
	hi := lo + sort.Search(len(t)-lo, func(k int) bool { return !strings.HasPrefix(t[lo+k].Name, prefix) })
	return t[lo:hi:hi]
}

func cmpParamName(p Param, name string) int { return strings.Compare(p.Name, name) }

// Millis brings t to the precision a Store keeps: whole milliseconds, UTC,
// no monotonic reading. The zero time stays zero.
func Millis(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// MergeOptions tunes MergeParams.
type MergeOptions struct {
	// ReadAtResolution: a re-read that finds the same value and type moves
	// the stored ReadAt only when it is at least this much newer. Zero
	// keeps ReadAt exact, so every refresh rewrites the tree; a larger value
	// trades ReadAt accuracy for fewer writes.
	ReadAtResolution time.Duration
}

// MergeResult says what MergeParams did.
type MergeResult struct {
	// Changed lists the new or modified nodes as they are after the merge.
	Changed []Param
	// Deleted counts removed nodes.
	Deleted int
}

// Dirty reports whether the tree changed and must be written.
func (r MergeResult) Dirty() bool { return len(r.Changed) > 0 || r.Deleted > 0 }

// MergeParams applies a session's findings to a stored tree and returns the
// new tree; cur is not modified.
//
// deletePrefixes name subtrees the session learned completely (a
// DeleteObject, or a GetParameterNames/GetParameterValues of a whole
// subtree): stored nodes under such a prefix that are not in upserts are
// removed. The prefix "" names the whole tree.
//
// Each upsert is merged field by field into the stored node of the same
// name, so that partial knowledge does not erase other knowledge:
//   - Value and Type are replaced when the upsert carries an observation
//     (ReadAt or SetAt set) at least as new as the stored one; an upsert
//     without times (GetParameterNames, AddObject) leaves them. An empty
//     Type keeps the stored type.
//   - Writable is replaced unless it is WritableUnknown.
//   - ReadAt and SetAt only move forward (see MergeOptions).
//   - Object is kept once set; names ending in "." are objects.
//
// A new name is inserted as given. When the same name appears twice in
// upserts the later one wins. Names must be non-empty.
func MergeParams(cur ParamTree, upserts []Param, deletePrefixes []string, opt MergeOptions) (ParamTree, MergeResult, error) {
	var res MergeResult
	ups, err := normalizeUpserts(upserts)
	if err != nil {
		return nil, res, err
	}
	prefixes := prefixFree(deletePrefixes)

	out := make(ParamTree, 0, len(cur)+len(ups))
	i, j := 0, 0
	for i < len(cur) || j < len(ups) {
		switch {
		case j == len(ups) || (i < len(cur) && cur[i].Name < ups[j].Name):
			if underPrefix(prefixes, cur[i].Name) {
				res.Deleted++
			} else {
				out = append(out, cur[i])
			}
			i++
		case i == len(cur) || ups[j].Name < cur[i].Name:
			out = append(out, ups[j])
			res.Changed = append(res.Changed, ups[j])
			j++
		default:
			n := mergeOne(cur[i], ups[j], opt)
			if !sameParam(n, cur[i]) {
				res.Changed = append(res.Changed, n)
			}
			out = append(out, n)
			i++
			j++
		}
	}
	return out, res, nil
}

// normalizeUpserts returns the upserts sorted by name, last occurrence of a
// name winning, times at store precision.
func normalizeUpserts(upserts []Param) ([]Param, error) {
	ups := make([]Param, len(upserts))
	for k, p := range upserts {
		if p.Name == "" {
			return nil, Invalid("parameter with empty name")
		}
		if p.Writable < WritableUnknown || p.Writable > WritableYes {
			return nil, Invalid("parameter %q: writable %d out of range", p.Name, p.Writable)
		}
		p.ReadAt, p.SetAt = Millis(p.ReadAt), Millis(p.SetAt)
		p.Object = p.Object || strings.HasSuffix(p.Name, ".")
		ups[k] = p
	}
	slices.SortStableFunc(ups, func(a, b Param) int { return strings.Compare(a.Name, b.Name) })
	// Keep the last of each run of equal names.
	w := 0
	for k := range ups {
		if k+1 < len(ups) && ups[k+1].Name == ups[k].Name {
			continue
		}
		ups[w] = ups[k]
		w++
	}
	return ups[:w], nil
}

// prefixFree sorts the prefixes and drops those inside another one, so that
// at most one prefix can match a name: the greatest one not after it.
func prefixFree(prefixes []string) []string {
	if len(prefixes) == 0 {
		return nil
	}
	ps := slices.Clone(prefixes)
	slices.Sort(ps)
	out := ps[:1]
	for _, p := range ps[1:] {
		if !strings.HasPrefix(p, out[len(out)-1]) {
			out = append(out, p)
		}
	}
	return out
}

func underPrefix(prefixes []string, name string) bool {
	if len(prefixes) == 0 {
		return false
	}
	// Index of the first prefix greater than name; the candidate is the one
	// before it.
	k, found := slices.BinarySearch(prefixes, name)
	if found {
		return true
	}
	return k > 0 && strings.HasPrefix(name, prefixes[k-1])
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func mergeOne(old, up Param, opt MergeOptions) Param {
	n := old
	if obs := later(up.ReadAt, up.SetAt); !obs.IsZero() && !obs.Before(later(old.ReadAt, old.SetAt)) {
		n.Value = up.Value
		if up.Type != "" {
			n.Type = up.Type
		}
	}
	if up.ReadAt.After(n.ReadAt) {
		sameValue := n.Value == old.Value && n.Type == old.Type
		if !sameValue || old.ReadAt.IsZero() || up.ReadAt.Sub(old.ReadAt) >= opt.ReadAtResolution {
			n.ReadAt = up.ReadAt
		}
	}
	if up.SetAt.After(n.SetAt) {
		n.SetAt = up.SetAt
	}
	if up.Writable != WritableUnknown {
		n.Writable = up.Writable
	}
	n.Object = old.Object || up.Object
	return n
}

func sameParam(a, b Param) bool {
	return a.Name == b.Name && a.Value == b.Value && a.Type == b.Type && a.Writable == b.Writable &&
		a.Object == b.Object && a.ReadAt.Equal(b.ReadAt) && a.SetAt.Equal(b.SetAt)
}

// promoted maps parameter paths below the root object to the Device field
// that mirrors them, for both TR-181 ("Device.") and TR-098
// ("InternetGatewayDevice.") trees.
var promoted = map[string]func(*Device) *string{
	"DeviceInfo.SoftwareVersion":            func(d *Device) *string { return &d.SoftwareVersion },
	"DeviceInfo.HardwareVersion":            func(d *Device) *string { return &d.HardwareVersion },
	"DeviceInfo.ModelName":                  func(d *Device) *string { return &d.ModelName },
	"DeviceInfo.Manufacturer":               func(d *Device) *string { return &d.Manufacturer },
	"ManagementServer.ConnectionRequestURL": func(d *Device) *string { return &d.ConnectionRequestURL },
}

// Promote copies the values of summary parameters (software version,
// connection request URL, …) found in params into d's summary fields and
// reports whether any was set. Empty values are skipped.
func Promote(d *Device, params []Param) bool {
	set := false
	for _, p := range params {
		if p.Value == "" {
			continue
		}
		root, rest, ok := strings.Cut(p.Name, ".")
		if !ok || (root != "Device" && root != "InternetGatewayDevice") {
			continue
		}
		if f := promoted[rest]; f != nil {
			*f(d) = p.Value
			set = true
		}
	}
	return set
}

// CheckDeviceID rejects IDs a store will not key on: empty, longer than 512
// bytes, or holding control characters.
func CheckDeviceID(id string) error {
	if id == "" {
		return Invalid("empty device id")
	}
	if len(id) > 512 {
		return Invalid("device id longer than 512 bytes")
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] == 0x7f {
			return Invalid("device id %q holds a control character", id)
		}
	}
	return nil
}

// CheckTag rejects tags that are empty, longer than 128 bytes or hold
// control characters.
func CheckTag(tag string) error {
	if tag == "" || len(tag) > 128 {
		return Invalid("tag %q: want 1-128 bytes", tag)
	}
	for i := 0; i < len(tag); i++ {
		if tag[i] < 0x20 || tag[i] == 0x7f {
			return Invalid("tag %q holds a control character", tag)
		}
	}
	return nil
}
