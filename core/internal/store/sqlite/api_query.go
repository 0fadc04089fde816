package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// fieldCols maps query field names to device columns.
var fieldCols = map[string]string{
	"id": "d.id", "oui": "d.oui", "productClass": "d.product_class", "serialNumber": "d.serial_number",
	"manufacturer": "d.manufacturer", "modelName": "d.model_name", "softwareVersion": "d.software_version",
	"hardwareVersion": "d.hardware_version", "ip": "d.ip", "connectionRequestUrl": "d.connection_request_url",
	"cwmpVersion": "d.cwmp_version", "profile": "d.profile",
}

// timeSortCols are the sortable columns that hold times and may be NULL.
var timeSortCols = map[string]string{"lastInform": "d.last_inform"}

const (
	defaultScanBudget = 2000
	// chunk is how many candidate rows one round trip fetches when rows are
	// filtered in Go.
	scanChunk = 256
)

// queryPlan is a device query turned into SQL plus the conditions that
// must be checked in Go.
//
// How SQLite should walk the devices depends on how many match, which it
// cannot know without statistics. So the plan decides itself: every
// condition an index can answer is probed with a count bounded at
// probeLimit. When one matches fewer, the query is driven from that index
// ("d.rid IN (…)") and the few rows are sorted. Otherwise every condition
// matches densely, and walking the devices in page order (the ID index, a
// sort column's index, or an equality whose index ends in the ID) finds a
// page after a few hundred rows. Filters are written with a unary "+" on
// indexed columns so that SQLite follows this choice instead of guessing.
type queryPlan struct {
	from  string
	idCol string // the expression that orders by device ID
	where []string
	args  []any
	// sortCol is the sort column, "" when sorting by ID.
	sortCol  string
	nullable bool
	desc     bool
	// unordered is set when the query is driven from a probe: the rows
	// come in no useful order and are sorted.
	unordered bool
	// post are conditions checked in Go: on device fields (numeric
	// comparisons) or on parameters that are not indexed.
	post      []store.Cond
	needTree  bool
	project   []string
	wantTree  bool
	sortField string
}

// probeLimit bounds the counting of a condition's matches: beyond it the
// condition counts as dense. A variable so that tests can exercise both
// kinds of plan on a small fleet.
var probeLimit = 2000

// part is one condition in SQL.
type part struct {
	filter     string // WHERE term on d
	filterArgs []any
	// probe selects the rids of matching devices from an index; "" when
	// no index answers the condition.
	probe     string
	probeArgs []any
	// ordered, when set, is a way to walk the matches in ID order.
	ordered *orderedDriver
}

type orderedDriver struct {
	from, idCol, where string
	args               []any
	rank               int // lower is better
}

// indexedCols have an index (column, id).
var indexedCols = map[string]bool{
	"d.software_version": true, "d.product_class": true, "d.model_name": true, "d.serial_number": true, "d.id": true,
}

type cursor struct {
	Sort string `json:"s"`
	Desc bool   `json:"d,omitempty"`
	// V is the sort value of the last row: a string, a number of
	// milliseconds, or null.
	V  any    `json:"v,omitempty"`
	ID string `json:"i"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 2048 {
		return c, store.Invalid("malformed cursor")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil || c.ID == "" {
		return c, store.Invalid("malformed cursor")
	}
	return c, nil
}

// promotedReady returns the ready promoted parameters by name.
func (db *DB) promotedReady(ctx context.Context) (map[string]int64, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT id, name FROM promoted_params WHERE state = 'ready'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		out[name] = id
	}
	return out, rows.Err()
}

func checkQuery(q *store.DeviceQuery) error {
	for i, c := range q.Conds {
		if !c.Op.Valid() {
			return store.Invalid("condition %d: unknown comparison %q", i, c.Op)
		}
		if !store.IsDeviceField(c.Field) {
			if err := store.CheckParamPath(c.Field); err != nil {
				return fmt.Errorf("condition %d: %w", i, err)
			}
		}
		if len(c.Value) > 1024 {
			return store.Invalid("condition %d: value longer than 1024 bytes", i)
		}
	}
	for _, t := range q.Tags {
		if err := store.CheckTag(t); err != nil {
			return err
		}
	}
	for _, p := range q.Params {
		if p == "" && len(q.Params) == 1 {
			continue
		}
		if err := store.CheckParamSelector(p); err != nil {
			return err
		}
	}
	if q.Sort != "" && !slices.Contains(store.SortFields, q.Sort) {
		return store.Invalid("cannot sort by %q", q.Sort)
	}
	return nil
}

func (db *DB) plan(ctx context.Context, q store.DeviceQuery) (*queryPlan, error) {
	p := &queryPlan{from: "devices d", idCol: "d.id", desc: q.Desc, project: q.Params, sortField: q.Sort}
	if p.sortField == "" {
		p.sortField = "id"
	}
	if p.sortField != "id" {
		if c, ok := timeSortCols[p.sortField]; ok {
			p.sortCol, p.nullable = c, true
		} else {
			p.sortCol = fieldCols[p.sortField]
		}
	}
	p.wantTree = len(q.Params) > 0

	var promoted map[string]int64
	for _, c := range q.Conds {
		if _, ok := store.SummaryField(c.Field); !ok {
			var err error
			if promoted, err = db.promotedReady(ctx); err != nil {
				return nil, err
			}
			break
		}
	}
	var parts []part
	for _, c := range q.Conds {
		if pt, ok := p.cond(c, promoted); ok {
			parts = append(parts, pt)
		}
	}
	for _, t := range q.Tags {
		parts = append(parts, part{
			filter: "EXISTS (SELECT 1 FROM device_tags t WHERE t.rid = d.rid AND t.tag = ?)", filterArgs: []any{t},
			probe: "SELECT rid FROM device_tags WHERE tag = ?", probeArgs: []any{t},
			ordered: &orderedDriver{from: "device_tags g CROSS JOIN devices d ON d.rid = g.rid", idCol: "g.device_id",
				where: "g.tag = ?", args: []any{t}, rank: 3},
		})
	}
	if !q.InformedBefore.IsZero() {
		v := q.InformedBefore.UnixMilli()
		parts = append(parts, part{filter: "+d.last_inform < ?", filterArgs: []any{v},
			probe: "SELECT rid FROM devices WHERE last_inform < ?", probeArgs: []any{v}})
	}
	if !q.InformedAfter.IsZero() {
		v := q.InformedAfter.UnixMilli()
		parts = append(parts, part{filter: "+d.last_inform > ?", filterArgs: []any{v},
			probe: "SELECT rid FROM devices WHERE last_inform > ?", probeArgs: []any{v}})
	}
	if q.Online != nil {
		parts = append(parts, p.online(q, db.opts.Now()))
	}

	// Probe, and drive from the sparsest condition if one is sparse.
	best, bestN := -1, probeLimit
	for i, pt := range parts {
		if pt.probe == "" {
			continue
		}
		var n int
		err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM ("+pt.probe+" LIMIT ?)",
			append(slices.Clone(pt.probeArgs), probeLimit)...).Scan(&n)
		if err != nil {
			return nil, err
		}
		if n < bestN {
			best, bestN = i, n
		}
	}
	switch {
	case best >= 0 && p.sortCol == "" && parts[best].ordered != nil:
		// The sparsest condition also walks in ID order: follow it and
		// stop at the page's end instead of sorting all its matches.
		o := parts[best].ordered
		p.from, p.idCol = o.from, o.idCol
		p.add(o.where, o.args...)
		parts = append(parts[:best], parts[best+1:]...)
	case best >= 0:
		p.unordered = true
		p.add("d.rid IN ("+parts[best].probe+")", parts[best].probeArgs...)
		parts = append(parts[:best], parts[best+1:]...)
	case p.sortCol == "":
		// Walk the matches in ID order from the best ordered driver.
		drv := -1
		for i, pt := range parts {
			if pt.ordered != nil && (drv < 0 || pt.ordered.rank < parts[drv].ordered.rank) {
				drv = i
			}
		}
		if drv >= 0 {
			o := parts[drv].ordered
			p.from, p.idCol = o.from, o.idCol
			p.add(o.where, o.args...)
			parts = append(parts[:drv], parts[drv+1:]...)
		}
	}
	for _, pt := range parts {
		p.add(pt.filter, pt.filterArgs...)
	}
	return p, nil
}

// online is the condition of DeviceQuery.Online.
func (p *queryPlan) online(q store.DeviceQuery, now time.Time) part {
	if !q.Now.IsZero() {
		now = q.Now
	}
	if q.OnlineWindow > 0 {
		v := now.Add(-q.OnlineWindow).UnixMilli()
		if *q.Online {
			return part{filter: "+d.last_inform >= ?", filterArgs: []any{v},
				probe: "SELECT rid FROM devices WHERE last_inform >= ?", probeArgs: []any{v}}
		}
		return part{filter: "(d.last_inform IS NULL OR +d.last_inform < ?)", filterArgs: []any{v}}
	}
	fallback := q.OnlineFallback
	if fallback <= 0 {
		fallback = time.Hour
	}
	// Keep in step with store.OnlineDeadline.
	on := `+d.last_inform >= ? - CASE WHEN d.inform_interval > 0
		THEN d.inform_interval * 1000 + max(d.inform_interval * 100, 30000) ELSE ? END`
	args := []any{now.UnixMilli(), fallback.Milliseconds()}
	if *q.Online {
		return part{filter: "d.last_inform IS NOT NULL AND " + on, filterArgs: args}
	}
	return part{filter: "(d.last_inform IS NULL OR NOT (" + on + "))", filterArgs: args}
}

func (p *queryPlan) add(clause string, args ...any) {
	p.where = append(p.where, clause)
	p.args = append(p.args, args...)
}

// cond turns one condition into SQL; false when it is checked in Go.
func (p *queryPlan) cond(c store.Cond, promoted map[string]int64) (part, bool) {
	_, numeric := store.ParseNumber(c.Value)
	numeric = numeric && c.Op.Ordered()
	if f, ok := store.SummaryField(c.Field); ok {
		if numeric {
			p.post = append(p.post, store.Cond{Field: f, Op: c.Op, Value: c.Value})
			return part{}, false
		}
		col := fieldCols[f]
		bare := strings.TrimPrefix(col, "d.")
		var pt part
		var probe string
		// An empty summary column means the device never reported it.
		switch c.Op {
		case store.OpEq:
			if c.Value == "" {
				return part{filter: "0"}, true
			}
			pt.filter, pt.filterArgs = "+"+col+" = ?", []any{c.Value}
			if col == p.sortCol {
				// Sorting by the same column: its index is the walk.
				pt.filter = col + " = ?"
			}
			probe = bare + " = ?"
			pt.probeArgs = []any{c.Value}
			if indexedCols[col] && col != "d.id" {
				pt.ordered = &orderedDriver{from: "devices d", idCol: "d.id", where: col + " = ?", args: []any{c.Value}, rank: 1}
			}
		case store.OpPrefix:
			hi, ok := prefixEnd(c.Value)
			if c.Value == "" || !ok {
				pt.filter = "+" + col + " <> ''"
				break
			}
			pt.filter, pt.filterArgs = "+"+col+" >= ? AND +"+col+" < ?", []any{c.Value, hi}
			probe, pt.probeArgs = bare+" >= ? AND "+bare+" < ?", []any{c.Value, hi}
		case store.OpNe:
			pt.filter, pt.filterArgs = "+"+col+" <> '' AND +"+col+" <> ?", []any{c.Value}
		default:
			pt.filter, pt.filterArgs = "+"+col+" <> '' AND +"+col+" "+sqlOp(c.Op)+" ?", []any{c.Value}
			probe, pt.probeArgs = bare+" <> '' AND "+bare+" "+sqlOp(c.Op)+" ?", []any{c.Value}
		}
		if probe != "" && indexedCols[col] {
			pt.probe = "SELECT rid FROM devices WHERE " + probe
		} else {
			pt.probeArgs = nil
		}
		return pt, true
	}
	pid, ok := promoted[c.Field]
	if !ok {
		p.post = append(p.post, c)
		p.needTree = true
		return part{}, false
	}
	// The "+" keeps SQLite on the (rid, pid) key inside EXISTS rather than
	// on a value index, which would scan every match for every row.
	var pt part
	var term string
	var args []any
	switch {
	case numeric:
		n, _ := store.ParseNumber(c.Value)
		term, args = "num "+sqlOp(c.Op)+" ?", []any{n}
	case c.Op == store.OpPrefix:
		if hi, ok := prefixEnd(c.Value); ok && c.Value != "" {
			term, args = "value >= ? AND value < ?", []any{c.Value, hi}
		} else {
			term, args = "value >= ?", []any{c.Value}
		}
	default:
		term, args = "value "+sqlOp(c.Op)+" ?", []any{c.Value}
	}
	plus := strings.NewReplacer("num ", "+i.num ", "value ", "+i.value ")
	pt.filter = "EXISTS (SELECT 1 FROM param_index i WHERE i.rid = d.rid AND i.pid = ? AND " + plus.Replace(term) + ")"
	pt.filterArgs = append([]any{pid}, args...)
	if c.Op != store.OpNe {
		pt.probe = "SELECT rid FROM param_index WHERE pid = ? AND " + term
		pt.probeArgs = append([]any{pid}, args...)
	}
	if c.Op == store.OpEq {
		pt.ordered = &orderedDriver{from: "param_index x CROSS JOIN devices d ON d.rid = x.rid", idCol: "x.device_id",
			where: "x.pid = ? AND x.value = ?", args: []any{pid, c.Value}, rank: 2}
	}
	return pt, true
}

func sqlOp(op store.Op) string {
	if op == store.OpNe {
		return "<>"
	}
	return string(op)
}

// keyset adds the condition that continues after the cursor's row.
func (p *queryPlan) keyset(c cursor) ([]string, []any, error) {
	idCmp := ">"
	if p.desc {
		idCmp = "<"
	}
	sortCol, idCol, did := p.sortCol, p.idCol, "d.id"
	if p.unordered {
		sortCol, idCol, did = "+"+sortCol, "+"+idCol, "+d.id"
	}
	if p.sortCol == "" {
		return []string{idCol + " " + idCmp + " ?"}, []any{c.ID}, nil
	}
	if !p.nullable {
		s, ok := c.V.(string)
		if !ok {
			return nil, nil, store.Invalid("malformed cursor")
		}
		return []string{"(" + sortCol + ", " + did + ") " + idCmp + " (?, ?)"}, []any{s, c.ID}, nil
	}
	// NULL sorts first ascending and last descending.
	if c.V == nil {
		if p.desc {
			return []string{p.sortCol + " IS NULL AND " + did + " < ?"}, []any{c.ID}, nil
		}
		return []string{"(" + p.sortCol + " IS NOT NULL OR " + did + " > ?)"}, []any{c.ID}, nil
	}
	var v int64
	switch x := c.V.(type) {
	case int64:
		v = x
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return nil, nil, store.Invalid("malformed cursor")
		}
		v = n
	default:
		return nil, nil, store.Invalid("malformed cursor")
	}
	if p.desc {
		return []string{"((" + sortCol + ", " + did + ") < (?, ?) OR " + p.sortCol + " IS NULL)"}, []any{v, c.ID}, nil
	}
	return []string{"(" + sortCol + ", " + did + ") > (?, ?)"}, []any{v, c.ID}, nil
}

func (p *queryPlan) orderBy() string {
	dir := ""
	if p.desc {
		dir = " DESC"
	}
	plus := ""
	if p.unordered {
		plus = "+"
	}
	if p.sortCol == "" {
		return plus + p.idCol + dir
	}
	return plus + p.sortCol + dir + ", " + plus + "d.id" + dir
}

// cursorFor makes the cursor that continues after row d.
func (p *queryPlan) cursorFor(d store.Device) string { return encodeCursor(p.cursorOf(d)) }

func (p *queryPlan) cursorOf(d store.Device) cursor {
	c := cursor{Sort: p.sortField, Desc: p.desc, ID: d.ID}
	switch p.sortField {
	case "id":
	case "lastInform":
		c.V = msOrNil(d.LastInform)
	default:
		c.V = store.DeviceField(d, p.sortField)
	}
	return c
}

func msOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// QueryDevices implements store.APIStore.
func (db *DB) QueryDevices(ctx context.Context, q store.DeviceQuery) (store.DevicePage, error) {
	var page store.DevicePage
	if err := checkQuery(&q); err != nil {
		return page, err
	}
	limit := pageLimit(q.Limit)
	budget := q.ScanBudget
	if budget <= 0 {
		budget = defaultScanBudget
	}
	p, err := db.plan(ctx, q)
	if err != nil {
		return page, err
	}
	var after *cursor
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return page, err
		}
		if c.Sort != p.sortField || c.Desc != p.desc {
			return page, store.Invalid("cursor belongs to another sort order")
		}
		after = &c
	}
	filtered := len(p.post) > 0
	chunk := limit + 1
	if filtered {
		chunk = scanChunk
	}
	for {
		where, args := slices.Clone(p.where), slices.Clone(p.args)
		if after != nil {
			w, a, err := p.keyset(*after)
			if err != nil {
				return page, err
			}
			where, args = append(where, w...), append(args, a...)
		}
		cols := deviceCols + ", d.inform_interval"
		from := p.from
		if p.needTree || p.wantTree {
			cols += ", pb.blob"
			from += " LEFT JOIN device_params pb ON pb.rid = d.rid"
		}
		sqlq := "SELECT " + cols + " FROM " + from
		if len(where) > 0 {
			sqlq += " WHERE " + strings.Join(where, " AND ")
		}
		sqlq += " ORDER BY " + p.orderBy() + " LIMIT ?"
		args = append(args, chunk)
		n, last, stop, err := db.scanRows(ctx, p, sqlq, args, limit, &budget, &page)
		if err != nil {
			return page, err
		}
		switch {
		case !filtered:
			if len(page.Devices) > limit {
				page.Devices = page.Devices[:limit]
				page.Next = p.cursorFor(page.Devices[limit-1].Device)
			}
			return page, nil
		case n < chunk && !stop:
			return page, nil // no rows left
		case stop:
			// The page is full or the budget spent: continue from the last
			// row looked at, which is the last returned when the page is
			// full.
			page.Next = p.cursorFor(last)
			return page, nil
		}
		c := p.cursorOf(last)
		after = &c
	}
}

// scanRows runs one query and appends the matching rows to page. It
// returns the number of rows read, the last row read and whether the page
// is full or the budget spent.
func (db *DB) scanRows(ctx context.Context, p *queryPlan, q string, args []any, limit int, budget *int, page *store.DevicePage) (int, store.Device, bool, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, store.Device{}, false, err
	}
	defer rows.Close()
	n := 0
	var last store.Device
	withBlob := p.needTree || p.wantTree
	for rows.Next() {
		var row store.DeviceRow
		var interval sql.NullInt64
		var blob sql.RawBytes
		dest := []any{&interval}
		if withBlob {
			dest = append(dest, &blob)
		}
		d, err := scanDevice(multiScanner{rows, dest})
		if err != nil {
			return n, last, false, err
		}
		n++
		last = d
		row.Device = d
		if interval.Valid && interval.Int64 > 0 {
			row.InformInterval = time.Duration(interval.Int64) * time.Second
		}
		var tree store.ParamTree
		if withBlob && blob != nil {
			if tree, err = db.codec.Decode(blob); err != nil {
				return n, last, false, fmt.Errorf("device %q: %w", d.ID, err)
			}
		}
		if p.needTree {
			page.Scanned++
			*budget--
		}
		if matchPost(p.post, d, tree) {
			if p.wantTree {
				row.Params = project(tree, p.project)
			}
			page.Devices = append(page.Devices, row)
			if len(p.post) > 0 && len(page.Devices) == limit {
				return n, last, true, rows.Err()
			}
		}
		if p.needTree && *budget <= 0 {
			return n, last, true, rows.Err()
		}
	}
	return n, last, false, rows.Err()
}

// multiScanner scans the device columns and then extra destinations.
type multiScanner struct {
	rows  *sql.Rows
	extra []any
}

func (m multiScanner) Scan(dest ...any) error { return m.rows.Scan(append(dest, m.extra...)...) }

func matchPost(conds []store.Cond, d store.Device, tree store.ParamTree) bool {
	for _, c := range conds {
		if store.IsDeviceField(c.Field) {
			v := store.DeviceField(d, c.Field)
			if v == "" || !c.Match(v) {
				return false
			}
			continue
		}
		pr, ok := tree.Get(c.Field)
		if !ok || pr.Object || !c.Match(pr.Value) {
			return false
		}
	}
	return true
}

// project picks the selected nodes of a tree; a lone "" selects all.
func project(tree store.ParamTree, sel []string) store.ParamTree {
	if tree == nil {
		return store.ParamTree{}
	}
	if len(sel) == 1 && sel[0] == "" {
		return tree
	}
	var out store.ParamTree
	for _, s := range sel {
		if strings.HasSuffix(s, ".") {
			out = append(out, tree.Subtree(s)...)
		} else if pr, ok := tree.Get(s); ok {
			out = append(out, pr)
		}
	}
	slices.SortFunc(out, func(a, b store.Param) int { return strings.Compare(a.Name, b.Name) })
	return slices.CompactFunc(out, func(a, b store.Param) bool { return a.Name == b.Name })
}
