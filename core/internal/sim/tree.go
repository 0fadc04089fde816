package sim

import (
	"slices"
	"strconv"
	"strings"
)

// tree is one device's parameter tree: the profile's factory tree, which
// every device shares, plus this device's differences. A device that was
// never written to costs a few words, which is what lets 100,000 devices
// share a process.
type tree struct {
	p *Profile
	// vals holds values written by the ACS or changed by the simulator.
	vals map[string]string
	// added are the objects and parameters AddObject created, in
	// comparePaths order. They are the device's own copies.
	added []*entry
	// deleted are factory objects DeleteObject removed, as path prefixes.
	deleted []string
	// next is the last instance number handed out per table, so that
	// numbers are never reused, even after a delete.
	next map[string]uint32
	// attrs are notification and access-list settings that differ from
	// the defaults.
	attrs map[string]attr
}

type attr struct {
	notification int8
	access       []string
}

func (t *tree) reset() { *t = tree{p: t.p} }

func (t *tree) isDeleted(name string) bool {
	for _, d := range t.deleted {
		if strings.HasPrefix(name, d) {
			return true
		}
	}
	return false
}

// get finds a node of the device's tree.
func (t *tree) get(name string) (*entry, bool) {
	if e, ok := t.p.index[name]; ok {
		if len(t.deleted) > 0 && t.isDeleted(name) {
			return nil, false
		}
		return e, true
	}
	if i, ok := t.findAdded(name); ok {
		return t.added[i], true
	}
	return nil, false
}

func (t *tree) findAdded(name string) (int, bool) {
	return slices.BinarySearchFunc(t.added, name, func(e *entry, n string) int { return comparePaths(e.name, n) })
}

// walk calls fn for every node whose name starts with prefix, in
// comparePaths order, until fn returns false. An empty prefix walks the
// whole tree.
func (t *tree) walk(prefix string, fn func(*entry) bool) {
	fi := 0
	if prefix != "" {
		fi = t.p.lowerBound(prefix)
	}
	ai, _ := t.findAdded(prefix)
	for {
		var f, a *entry
		if fi < len(t.p.entries) && strings.HasPrefix(t.p.entries[fi].name, prefix) {
			f = t.p.entries[fi]
		}
		if ai < len(t.added) && strings.HasPrefix(t.added[ai].name, prefix) {
			a = t.added[ai]
		}
		var next *entry
		switch {
		case f == nil && a == nil:
			return
		case f == nil:
			next, ai = a, ai+1
		case a == nil || comparePaths(f.name, a.name) < 0:
			next, fi = f, fi+1
			if len(t.deleted) > 0 && t.isDeleted(f.name) {
				continue
			}
		default:
			next, ai = a, ai+1
		}
		if !fn(next) {
			return
		}
	}
}

// countRows is the live number of rows of a table, for NumberOfEntries.
func (t *tree) countRows(table string) int {
	n, d := 0, depth(table)+1
	t.walk(table, func(e *entry) bool {
		if e.kind == kindObject && depth(e.name) == d {
			n++
		}
		return true
	})
	return n
}

// addRow creates the next row of a table with everything the profile's row
// schema puts in it, and returns its instance number.
func (t *tree) addRow(table string, rs *rowSchema) uint32 {
	n := t.next[table]
	if n == 0 {
		n = t.p.maxInst[table]
	}
	n++
	if t.next == nil {
		t.next = map[string]uint32{}
	}
	t.next[table] = n
	inst := strconv.FormatUint(uint64(n), 10)
	row := table + inst + "."
	block := make([]*entry, 0, len(rs.items)+1)
	block = append(block, &entry{name: row, kind: kindObject, writable: rs.writable, hash: hashString(row)})
	for i := range rs.items {
		e := rs.items[i]
		e.name = row + e.name
		e.hash = hashString(e.name)
		if e.name == row+"Alias" {
			e.value = "cpe-" + inst
		}
		if e.kind == kindParam {
			e.flags &^= flagDenyActive
			if t.p.denyActive != nil && t.p.denyActive(e.name) {
				e.flags |= flagDenyActive
			}
		}
		block = append(block, &e)
	}
	slices.SortFunc(block, func(a, b *entry) int { return comparePaths(a.name, b.name) })
	at, _ := t.findAdded(row)
	t.added = slices.Insert(t.added, at, block...)
	return n
}

// deleteRow removes a row and everything below it.
func (t *tree) deleteRow(row string) {
	lo, _ := t.findAdded(row)
	hi := lo
	for hi < len(t.added) && strings.HasPrefix(t.added[hi].name, row) {
		hi++
	}
	t.added = slices.Delete(t.added, lo, hi)
	if i := t.p.lowerBound(row); i < len(t.p.entries) && strings.HasPrefix(t.p.entries[i].name, row) {
		t.deleted = append(t.deleted, row)
	}
	for k := range t.vals {
		if strings.HasPrefix(k, row) {
			delete(t.vals, k)
		}
	}
	for k := range t.attrs {
		if strings.HasPrefix(k, row) {
			delete(t.attrs, k)
		}
	}
}

func (t *tree) set(name, value string) {
	if t.vals == nil {
		t.vals = map[string]string{}
	}
	t.vals[name] = value
}

// notification is the effective notification attribute of a parameter.
func (t *tree) notification(e *entry) int8 {
	if e.is(flagForcedActive) {
		return 2
	}
	return t.attrs[e.name].notification
}

func (t *tree) accessList(e *entry) []string {
	if a, ok := t.attrs[e.name]; ok && a.access != nil {
		return a.access
	}
	return []string{}
}

func (t *tree) setAttr(name string, a attr) {
	if t.attrs == nil {
		t.attrs = map[string]attr{}
	}
	if a.notification == 0 && len(a.access) == 0 {
		delete(t.attrs, name)
		return
	}
	t.attrs[name] = a
}
