package sqlite

// History rows are keyed (rid, seq) with seq counting up per device. Taking
// the next seq with "max(seq) + 1" inside the INSERT costs more than the
// insert itself, so the writer remembers each device's last session and
// event seq. It is filled from max(seq) on first use and, like the
// parameter memos, changed only once the batch that wrote the rows has
// committed: an operation rolled back to its savepoint, or a batch that
// failed, leaves no number behind that its rows did not take.
//
// A remembered seq can only be too high (after history rows were deleted
// by something other than trimming), which leaves a gap in the numbers:
// harmless, since readers order by seq and trimming keeps rows above
// seq - bound.
//
// Only the writer goroutine reads and writes seqs.

// histTable names a history table.
type histTable uint8

const (
	histSessions histTable = iota
	histEvents
)

func (t histTable) String() string {
	if t == histEvents {
		return "events"
	}
	return "sessions"
}

type seqKey struct {
	rid   int64
	table histTable
}

// seqOp is a staged change: the last seq of key, or drop every table's.
type seqOp struct {
	key  seqKey
	seq  int64
	drop bool
}

// lastSeq returns the highest seq of rid's rows in table as this batch
// sees it.
func (w *wtx) lastSeq(t histTable, rid int64) (int64, error) {
	k := seqKey{rid, t}
	for i := len(w.seqOps) - 1; i >= 0; i-- {
		o := w.seqOps[i]
		if o.key.rid != rid {
			continue
		}
		if o.drop {
			break
		}
		if o.key.table == t {
			return o.seq, nil
		}
	}
	if seq, ok := w.db.seqs[k]; ok {
		return seq, nil
	}
	var seq int64
	err := w.queryRow("SELECT coalesce(max(seq), 0) FROM "+t.String()+" WHERE rid = ?", rid).Scan(&seq)
	return seq, err
}

// tookSeq stages seq as rid's last in table.
func (w *wtx) tookSeq(t histTable, rid, seq int64) {
	w.seqOps = append(w.seqOps, seqOp{key: seqKey{rid, t}, seq: seq})
}

// dropSeqs forgets rid's seqs at once and, in the order of the batch,
// when it commits.
func (w *wtx) dropSeqs(rid int64) {
	delete(w.db.seqs, seqKey{rid, histSessions})
	delete(w.db.seqs, seqKey{rid, histEvents})
	w.seqOps = append(w.seqOps, seqOp{key: seqKey{rid: rid}, drop: true})
}

// commitSeqs applies the batch's seq changes; called after COMMIT.
func (db *DB) commitSeqs(ops []seqOp) {
	if db.opts.ParamMemos <= 0 {
		return
	}
	for _, o := range ops {
		if o.drop {
			delete(db.seqs, seqKey{o.key.rid, histSessions})
			delete(db.seqs, seqKey{o.key.rid, histEvents})
			continue
		}
		if _, ok := db.seqs[o.key]; !ok && len(db.seqs) >= 2*db.opts.ParamMemos {
			clear(db.seqs) // the simplest bound; a miss costs one query
		}
		db.seqs[o.key] = o.seq
	}
}
