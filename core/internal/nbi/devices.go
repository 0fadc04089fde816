package nbi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

// apiDevice is a device as the API shows it.
type apiDevice struct {
	ID                   string     `json:"id"`
	OUI                  string     `json:"oui"`
	ProductClass         string     `json:"productClass"`
	SerialNumber         string     `json:"serialNumber"`
	Manufacturer         string     `json:"manufacturer"`
	ModelName            string     `json:"modelName"`
	SoftwareVersion      string     `json:"softwareVersion"`
	HardwareVersion      string     `json:"hardwareVersion"`
	IP                   string     `json:"ip"`
	ConnectionRequestURL string     `json:"connectionRequestUrl"`
	CWMPVersion          string     `json:"cwmpVersion"`
	Profile              string     `json:"profile"`
	FirstInform          *time.Time `json:"firstInform,omitempty"`
	LastInform           *time.Time `json:"lastInform,omitempty"`
	LastBoot             *time.Time `json:"lastBoot,omitempty"`
	LastBootstrap        *time.Time `json:"lastBootstrap,omitempty"`
	Tags                 []string   `json:"tags"`
	Online               bool       `json:"online"`
	// InformInterval is the periodic inform interval in seconds, 0 when
	// unknown or disabled.
	InformInterval int64 `json:"informInterval"`
	// Credential is shown for one device, not in listings.
	Credential *apiCredential `json:"credential,omitempty"`
	Parameters []apiParam     `json:"parameters,omitempty"`
}

// apiCredential says whether a device has a credential of its own to
// talk to the ACS with; never what it is.
type apiCredential struct {
	// Set: the device has an active credential of its own, and the shared
	// bootstrap credential is refused for it (see auth.rebootstrap).
	Set bool `json:"set"`
	// Pending: a new credential was sent to the device and is accepted
	// until the device confirms it by using it, or acknowledges it.
	Pending  bool       `json:"pending,omitempty"`
	Username string     `json:"username,omitempty"`
	Updated  *time.Time `json:"updated,omitempty"`
}

func toAPICredential(creds []store.CPECredential) *apiCredential {
	out := &apiCredential{}
	for _, c := range creds {
		if c.Pending {
			out.Pending = true
		} else {
			out.Set = true
		}
		// The active one comes first; a pending one alone names itself.
		if out.Username == "" {
			out.Username, out.Updated = c.Username, timePtr(c.Updated)
		}
	}
	return out
}

type apiParam struct {
	Name     string     `json:"name"`
	Value    string     `json:"value"`
	Type     string     `json:"type,omitempty"`
	Writable *bool      `json:"writable,omitempty"`
	Object   bool       `json:"object,omitempty"`
	ReadAt   *time.Time `json:"readAt,omitempty"`
	SetAt    *time.Time `json:"setAt,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (s *Server) toAPIDevice(r store.DeviceRow, now time.Time) apiDevice {
	d := r.Device
	out := apiDevice{
		ID: d.ID, OUI: d.OUI, ProductClass: d.ProductClass, SerialNumber: d.SerialNumber,
		Manufacturer: d.Manufacturer, ModelName: d.ModelName, SoftwareVersion: d.SoftwareVersion,
		HardwareVersion: d.HardwareVersion, IP: d.IP, ConnectionRequestURL: d.ConnectionRequestURL,
		CWMPVersion: d.CWMPVersion, Profile: d.Profile,
		FirstInform: timePtr(d.FirstInform), LastInform: timePtr(d.LastInform),
		LastBoot: timePtr(d.LastBoot), LastBootstrap: timePtr(d.LastBootstrap),
		Tags:           d.Tags,
		Online:         r.Online(now, s.cfg.OnlineWindow, s.cfg.OnlineFallback),
		InformInterval: int64(r.InformInterval / time.Second),
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if r.Params != nil {
		out.Parameters = make([]apiParam, len(r.Params))
		for i, p := range r.Params {
			out.Parameters[i] = toAPIParam(p)
		}
	}
	return out
}

func toAPIParam(p store.Param) apiParam {
	ap := apiParam{Name: p.Name, Value: p.Value, Type: p.Type, Object: p.Object, ReadAt: timePtr(p.ReadAt), SetAt: timePtr(p.SetAt)}
	if p.Writable != store.WritableUnknown {
		w := p.Writable == store.WritableYes
		ap.Writable = &w
	}
	return ap
}

// apiFilter selects devices in a request body (task creation).
type apiFilter struct {
	Where          []string   `json:"where"`
	Tags           []string   `json:"tags"`
	Online         *bool      `json:"online"`
	InformedBefore *time.Time `json:"informedBefore"`
	InformedAfter  *time.Time `json:"informedAfter"`
}

// toQuery checks a filter and turns it into a store query; prefix names
// the filter in errors ("filter").
func (f apiFilter) toQuery(prefix string) (store.DeviceQuery, error) {
	var q store.DeviceQuery
	for i, w := range f.Where {
		c, reason := parseCond(w)
		if reason != "" {
			return q, badParam(indexed(prefix+"where", i), "%s", reason)
		}
		if len(c.Value) > 1024 {
			return q, badParam(indexed(prefix+"where", i), "value longer than 1024 bytes")
		}
		q.Conds = append(q.Conds, c)
	}
	for i, t := range f.Tags {
		if err := store.CheckTag(t); err != nil {
			return q, badParam(indexed(prefix+"tags", i), "%s", trimStorePrefix(err))
		}
	}
	q.Tags = f.Tags
	q.Online = f.Online
	if f.InformedBefore != nil {
		q.InformedBefore = *f.InformedBefore
	}
	if f.InformedAfter != nil {
		q.InformedAfter = *f.InformedAfter
	}
	return q, nil
}

func indexed(name string, i int) string { return name + "[" + itoa(i) + "]" }

func (s *Server) fillOnline(q *store.DeviceQuery) {
	q.Now, q.OnlineWindow, q.OnlineFallback = s.cfg.Now(), s.cfg.OnlineWindow, s.cfg.OnlineFallback
}

// deviceQuery reads the filter, sort and paging parameters of a device
// list.
func (s *Server) deviceQuery(r *http.Request) (store.DeviceQuery, error) {
	p := queryParams(r, "where", "tag", "online", "informedBefore", "informedAfter", "sort", "cursor", "limit", "params")
	f := apiFilter{Where: p.v["where"], Tags: p.list("tag"), Online: p.boolPtr("online")}
	if t := p.time("informedBefore"); !t.IsZero() {
		f.InformedBefore = &t
	}
	if t := p.time("informedAfter"); !t.IsZero() {
		f.InformedAfter = &t
	}
	sort := p.str("sort")
	cursor := p.str("cursor")
	limit := p.intIn("limit", 100, 1, 1000)
	sel := p.list("params")
	if err := p.done(); err != nil {
		return store.DeviceQuery{}, err
	}
	q, err := f.toQuery("")
	if err != nil {
		// Query parameters are named without a prefix: where[0], tags → tag.
		if pr, ok := err.(*Problem); ok && len(pr.InvalidParams) > 0 {
			pr.InvalidParams[0].Name = strings.Replace(pr.InvalidParams[0].Name, "tags", "tag", 1)
		}
		return q, err
	}
	explicit := sort != ""
	if strings.HasPrefix(sort, "-") {
		q.Desc, sort = true, sort[1:]
	}
	if explicit && !contains(store.SortFields, sort) {
		return q, badParam("sort", "want one of %s, with - for descending", strings.Join(store.SortFields, ", "))
	}
	q.Sort, q.Cursor, q.Limit = sort, cursor, limit
	for i, p := range sel {
		if err := store.CheckParamSelector(p); err != nil {
			return q, badParam(indexed("params", i), "%s", trimStorePrefix(err))
		}
	}
	q.Params = sel
	s.fillOnline(&q)
	return q, nil
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) error {
	q, err := s.deviceQuery(r)
	if err != nil {
		return err
	}
	about(r, "cursor")
	page, err := s.st.QueryDevices(r.Context(), q)
	if err != nil {
		return err
	}
	if page.Scanned > 0 {
		s.noteUnindexed(q.Conds)
	}
	now := s.cfg.Now()
	out := struct {
		Devices []apiDevice `json:"devices"`
		Next    string      `json:"next,omitempty"`
		Scanned int         `json:"scanned,omitempty"`
	}{Devices: make([]apiDevice, len(page.Devices)), Next: page.Next, Scanned: page.Scanned}
	for i, d := range page.Devices {
		out.Devices[i] = s.toAPIDevice(d, now)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// device reads one device with the selected parameters; nil sel means
// none.
func (s *Server) device(ctx context.Context, id string, sel []string) (store.DeviceRow, error) {
	q := store.DeviceQuery{Conds: []store.Cond{{Field: "id", Op: store.OpEq, Value: id}}, Limit: 1, Params: sel}
	page, err := s.st.QueryDevices(ctx, q)
	if err != nil {
		return store.DeviceRow{}, err
	}
	if len(page.Devices) == 0 {
		return store.DeviceRow{}, notFound("id", "device "+quote(id))
	}
	return page.Devices[0], nil
}

func quote(s string) string { return strconvQuote(s) }

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	p := queryParams(r, "path", "parameters")
	paths := p.list("path")
	with := p.boolPtr("parameters")
	if err := p.done(); err != nil {
		return err
	}
	for i, x := range paths {
		if err := store.CheckParamSelector(x); err != nil {
			return badParam(indexed("path", i), "%s", trimStorePrefix(err))
		}
	}
	sel := paths
	if len(sel) == 0 {
		sel = []string{""}
	}
	if with != nil && !*with {
		sel = nil
	}
	row, err := s.device(r.Context(), id, sel)
	if err != nil {
		return err
	}
	creds, err := s.st.DeviceCredentials(r.Context(), id)
	if err != nil {
		return err
	}
	out := s.toAPIDevice(row, s.cfg.Now())
	out.Credential = toAPICredential(creds)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteCredential deletes the credentials a device has of its own, active
// and pending, so that its next session with the shared bootstrap
// credential is admitted and, at its 0 BOOTSTRAP, given a new one: what a
// factory-reset device needs under auth.rebootstrap=refuse. A credential
// provisioned for a device that has not informed yet is deleted too.
func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := queryParams(r).done(); err != nil {
		return err
	}
	target(r, id)
	about(r, "id")
	n, err := s.st.DeleteDeviceCredentials(r.Context(), id)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := s.st.Device(r.Context(), id); err != nil {
			return err
		}
		p := problem(http.StatusNotFound, "no-credential", "device "+id+" has no credential of its own: it is admitted with the shared bootstrap credential already")
		p.InvalidParams = []InvalidParam{{Name: "id", Reason: "the device has no credential of its own"}}
		return p
	}
	note(r, "credentials", n)
	s.log.Info("device credential deleted: the device is admitted with the shared bootstrap credential again", "device", id, "by", callOf(r).who.name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	target(r, id)
	about(r, "id")
	if err := s.st.DeleteDevice(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) addTags(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	target(r, id)
	var body struct {
		Tags []string `json:"tags"`
	}
	if err := decodeJSON(r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	if len(body.Tags) == 0 {
		return badParam("tags", "give at least one tag")
	}
	if len(body.Tags) > 100 {
		return badParam("tags", "at most 100 tags per call")
	}
	for i, t := range body.Tags {
		if err := store.CheckTag(t); err != nil {
			return badParam(indexed("tags", i), "%s", trimStorePrefix(err))
		}
	}
	note(r, "tags", body.Tags)
	about(r, "id")
	if err := s.st.AddTags(r.Context(), id, body.Tags...); err != nil {
		return err
	}
	row, err := s.device(r.Context(), id, nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toAPIDevice(row, s.cfg.Now()))
	return nil
}

func (s *Server) removeTag(w http.ResponseWriter, r *http.Request) error {
	id, tag := r.PathValue("id"), r.PathValue("tag")
	target(r, id)
	note(r, "tag", tag)
	if err := store.CheckTag(tag); err != nil {
		return badParam("tag", "%s", trimStorePrefix(err))
	}
	about(r, "id")
	if err := s.st.RemoveTags(r.Context(), id, tag); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type apiEvent struct {
	Time       *time.Time `json:"time,omitempty"`
	Code       string     `json:"code"`
	CommandKey string     `json:"commandKey,omitempty"`
	SessionID  string     `json:"sessionId,omitempty"`
}

func (s *Server) listDeviceEvents(w http.ResponseWriter, r *http.Request) error {
	p := queryParams(r, "limit")
	limit := p.intIn("limit", 0, 0, 10000)
	if err := p.done(); err != nil {
		return err
	}
	about(r, "id")
	evs, err := s.st.Events(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	out := make([]apiEvent, len(evs))
	for i, e := range evs {
		out[i] = apiEvent{Time: timePtr(e.Time), Code: e.Code, CommandKey: e.CommandKey, SessionID: e.SessionID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}

type apiSession struct {
	ID       string     `json:"id"`
	Started  *time.Time `json:"started,omitempty"`
	Ended    *time.Time `json:"ended,omitempty"`
	Events   []string   `json:"events"`
	RPCs     int        `json:"rpcs"`
	Outcome  string     `json:"outcome"`
	Error    string     `json:"error,omitempty"`
	RemoteIP string     `json:"remoteIp,omitempty"`
}

func (s *Server) listDeviceSessions(w http.ResponseWriter, r *http.Request) error {
	p := queryParams(r, "limit")
	limit := p.intIn("limit", 0, 0, 10000)
	if err := p.done(); err != nil {
		return err
	}
	about(r, "id")
	ss, err := s.st.Sessions(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	out := make([]apiSession, len(ss))
	for i, x := range ss {
		out[i] = apiSession{ID: x.ID, Started: timePtr(x.Started), Ended: timePtr(x.Ended), Events: x.Events,
			RPCs: x.RPCs, Outcome: x.Outcome, Error: x.Error, RemoteIP: x.RemoteIP}
		if out[i].Events == nil {
			out[i].Events = []string{}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
	return nil
}

type apiConnReq struct {
	Time       time.Time  `json:"time"`
	Result     string     `json:"result"`
	HTTPStatus int        `json:"httpStatus,omitempty"`
	Attempts   int        `json:"attempts"`
	Error      string     `json:"error,omitempty"`
	DurationMS int64      `json:"durationMs"`
	Confirmed  *time.Time `json:"confirmed,omitempty"`
	// Success is true when the device answered, or opened its session
	// anyway (an Inform with "6 CONNECTION REQUEST" after the request).
	Success bool `json:"success"`
}

func toAPIConnReq(c store.ConnReqRecord) apiConnReq {
	return apiConnReq{Time: c.Time, Result: c.Result, HTTPStatus: c.HTTPStatus, Attempts: c.Attempts, Error: c.Error,
		DurationMS: c.Duration.Milliseconds(), Confirmed: timePtr(c.Confirmed), Success: c.Result == "ok" || !c.Confirmed.IsZero()}
}

func (s *Server) listConnectionRequests(w http.ResponseWriter, r *http.Request) error {
	p := queryParams(r, "limit")
	limit := p.intIn("limit", 0, 0, 100)
	if err := p.done(); err != nil {
		return err
	}
	about(r, "id")
	crs, err := s.st.ConnReqs(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	out := make([]apiConnReq, len(crs))
	for i, c := range crs {
		out[i] = toAPIConnReq(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"connectionRequests": out})
	return nil
}

// filterUsage counts queries that had to read trees to filter on a
// parameter: the candidates for promotion.
type filterUsage struct {
	mu sync.Mutex
	m  map[string]int
}

func (s *Server) noteUnindexed(conds []store.Cond) {
	var promote []string
	s.usage.mu.Lock()
	for _, c := range conds {
		if _, ok := store.SummaryField(c.Field); ok {
			continue
		}
		if len(s.usage.m) > 10_000 {
			s.usage.m = map[string]int{} // a bound against arbitrary paths
		}
		s.usage.m[c.Field]++
		if n := s.cfg.AutoPromoteAfter; n > 0 && s.usage.m[c.Field] >= n {
			promote = append(promote, c.Field)
			delete(s.usage.m, c.Field)
		}
	}
	s.usage.mu.Unlock()
	for _, name := range promote {
		if _, err := s.st.PromoteParam(s.ctx, name); err != nil {
			s.log.Warn("automatic promotion failed", "param", name, "err", err)
			continue
		}
		s.log.Info("parameter promoted to an index after repeated filtering", "param", name)
		s.kickIndex()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
