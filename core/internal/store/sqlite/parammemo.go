package sqlite

import (
	"hash/maphash"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// A periodic session re-reports the same few Inform values time after
// time. Merging them into the stored tree means decoding the whole blob
// only to find that nothing changed (with Options.ReadAtResolution, not
// even the read times). The writer therefore remembers, per device, a
// digest of what the stored tree holds for the names the device's last
// plain value merge carried, and the oldest ReadAt among those nodes. A
// merge of the same values whose read times all stay within the
// resolution of that ReadAt changes nothing, and is skipped without
// reading the tree.
//
// Only the writer goroutine reads and writes the memos. A memo is dropped
// before any merge that might change the tree, and set only once the batch
// that wrote (or confirmed) the tree has committed, so that a rolled-back
// operation cannot leave a memo describing a tree that does not exist.

// paramMemo describes a device's stored tree for one set of names.
type paramMemo struct {
	digest    uint64 // valueDigest of the names with their stored values
	minReadAt int64  // oldest stored ReadAt among them, Unix ms
}

// memoOp is a memo change staged until its batch commits.
type memoOp struct {
	rid  int64
	memo paramMemo
	drop bool
}

// memoSeed keys the digests; memos live in memory only.
var memoSeed = maphash.MakeSeed()

func itemDigest(name, value, typ string) uint64 {
	var h maphash.Hash
	h.SetSeed(memoSeed)
	h.WriteString(name)
	h.WriteByte(0)
	h.WriteString(value)
	h.WriteByte(0)
	h.WriteString(typ)
	return h.Sum64()
}

// memoizable reports whether a merge is a plain re-read of values (as an
// Inform's parameters are): no deletions, no set times, no writable flags,
// no objects, each name once. For such a merge the stored nodes after it
// are fully described by names, values and types.
func memoizable(upserts []store.Param, deletePrefixes []string) bool {
	if len(deletePrefixes) > 0 || len(upserts) == 0 || len(upserts) > 64 {
		return false
	}
	for i, p := range upserts {
		if p.Name == "" || strings.HasSuffix(p.Name, ".") || p.Object || !p.SetAt.IsZero() ||
			p.Writable != store.WritableUnknown || p.ReadAt.IsZero() {
			return false
		}
		for _, q := range upserts[:i] {
			if q.Name == p.Name {
				return false
			}
		}
	}
	return true
}

// upsertDigest digests the device and the values a memoizable merge
// brings, and returns the newest ReadAt among them (Unix ms). The digest
// is a sum, so the order of upserts does not matter.
func upsertDigest(deviceID string, upserts []store.Param) (digest uint64, maxReadAt int64) {
	digest = itemDigest(deviceID, "", "")
	for _, p := range upserts {
		digest += itemDigest(p.Name, p.Value, p.Type)
		maxReadAt = max(maxReadAt, p.ReadAt.UnixMilli())
	}
	return digest, maxReadAt
}

// treeMemo describes what tree holds for the names of upserts. ok is
// false when a name is missing or has never been read.
func treeMemo(deviceID string, tree store.ParamTree, upserts []store.Param) (paramMemo, bool) {
	m := paramMemo{digest: itemDigest(deviceID, "", ""), minReadAt: 1<<63 - 1}
	for _, p := range upserts {
		n, ok := tree.Get(p.Name)
		if !ok || n.ReadAt.IsZero() {
			return paramMemo{}, false
		}
		m.digest += itemDigest(n.Name, n.Value, n.Type)
		m.minReadAt = min(m.minReadAt, n.ReadAt.UnixMilli())
	}
	return m, true
}

// unchanged reports whether merging upserts into the tree memo describes
// would change nothing: the same values and types, and every ReadAt within
// the resolution of the stored one (or older), so that none moves.
func (m paramMemo) unchanged(digest uint64, maxReadAt int64, res time.Duration) bool {
	return m.digest == digest && maxReadAt-m.minReadAt < res.Milliseconds()
}

// dropMemo forgets rid's memo at once and, in the order of the batch, when
// it commits (an earlier operation of the batch may have staged one).
func (w *wtx) dropMemo(rid int64) {
	delete(w.db.memos, rid)
	w.memoOps = append(w.memoOps, memoOp{rid: rid, drop: true})
}

// commitMemos applies the batch's memo changes; called after COMMIT.
func (db *DB) commitMemos(ops []memoOp) {
	for _, o := range ops {
		if o.drop {
			delete(db.memos, o.rid)
			continue
		}
		if len(db.memos) >= db.opts.ParamMemos {
			// Simplest bound: start over. Memos are only a shortcut.
			clear(db.memos)
		}
		db.memos[o.rid] = o.memo
	}
}
