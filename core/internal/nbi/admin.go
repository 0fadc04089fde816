package nbi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/provisor/provisor/core/internal/store"
)

type apiFault struct {
	ID        int64           `json:"id"`
	DeviceID  string          `json:"deviceId"`
	SessionID string          `json:"sessionId,omitempty"`
	TaskID    int64           `json:"taskId,omitempty"`
	Time      *time.Time      `json:"time,omitempty"`
	Code      int             `json:"code"`
	Message   string          `json:"message"`
	Detail    json.RawMessage `json:"detail,omitempty"`
}

func (s *Server) listFaults(w http.ResponseWriter, r *http.Request) error {
	p := queryParams(r, "device", "task", "cursor", "limit")
	f := store.FaultFilter{DeviceID: p.str("device"), TaskID: p.int64("task"), Before: p.int64("cursor"), Limit: p.intIn("limit", 100, 1, 1000)}
	if err := p.done(); err != nil {
		return err
	}
	page, next, err := s.st.Faults(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Faults []apiFault `json:"faults"`
		Next   string     `json:"next,omitempty"`
	}{Faults: make([]apiFault, len(page))}
	for i, x := range page {
		out.Faults[i] = apiFault{ID: x.ID, DeviceID: x.DeviceID, SessionID: x.SessionID, TaskID: x.TaskID,
			Time: timePtr(x.Time), Code: x.Code, Message: x.Message, Detail: x.Detail}
	}
	if next > 0 {
		out.Next = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deleteFault(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := queryParams(r).done(); err != nil {
		return err
	}
	target(r, "fault "+strconv.FormatInt(id, 10))
	about(r, "id")
	if err := s.st.DeleteFault(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// faultByID finds a fault record; the store lists faults newest first
// with an exclusive cursor, so the record with ID n is the first one
// before n+1.
func (s *Server) faultByID(r *http.Request, id int64) (store.FaultRecord, error) {
	page, _, err := s.st.Faults(r.Context(), store.FaultFilter{Before: id + 1, Limit: 1})
	if err != nil {
		return store.FaultRecord{}, err
	}
	if len(page) == 0 || page[0].ID != id {
		return store.FaultRecord{}, notFound("id", "fault "+strconv.FormatInt(id, 10))
	}
	return page[0], nil
}

// retryFault re-queues the task whose failure the fault records.
func (s *Server) retryFault(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p := queryParams(r, "run")
	run := p.str("run")
	if err := p.done(); err != nil {
		return err
	}
	f, err := s.faultByID(r, id)
	if err != nil {
		return err
	}
	taskID, err := s.taskOfFault(r, f)
	if err != nil {
		return err
	}
	note(r, "fault", id)
	t, err := s.requeue(r, taskID, run)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAPITask(t))
	return nil
}

// taskOfFault finds the task a fault record belongs to. The session
// engine records the task with every fault a task's call provoked. Faults
// stored before it did have no task ID; for those alone the task is the
// device's task in fault with the same code that changed closest in time
// to the fault (the task's state is stored right after the fault).
func (s *Server) taskOfFault(r *http.Request, f store.FaultRecord) (int64, error) {
	if f.TaskID != 0 {
		return f.TaskID, nil
	}
	noTask := problem(http.StatusConflict, "no-task", "no task in fault matches this fault, so there is nothing to retry")
	if f.Time.IsZero() {
		return 0, noTask
	}
	tasks, err := s.st.TasksUpdatedSince(r.Context(), f.DeviceID, f.Time.Add(-time.Minute))
	if err != nil {
		return 0, err
	}
	var best int64
	bestGap := 5 * time.Minute
	for _, t := range tasks {
		if t.State != store.StateFault || t.Fault == nil || t.Fault.Code != f.Code {
			continue
		}
		gap := t.Updated.Sub(f.Time)
		if gap < 0 {
			gap = -gap
		}
		if gap <= bestGap {
			best, bestGap = t.ID, gap
		}
	}
	if best == 0 {
		return 0, noTask
	}
	return best, nil
}

type apiToken struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Created   time.Time  `json:"created"`
	CreatedBy string     `json:"createdBy,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
	LastUsed  *time.Time `json:"lastUsed,omitempty"`
	Revoked   *time.Time `json:"revoked,omitempty"`
	// Token is the secret, shown once, in the answer to its creation.
	Token string `json:"token,omitempty"`
}

func toAPIToken(t store.Token) apiToken {
	return apiToken{ID: t.ID, Name: t.Name, Role: t.Role, Created: t.Created, CreatedBy: t.CreatedBy,
		Expires: timePtr(t.Expires), LastUsed: timePtr(t.LastUsed), Revoked: timePtr(t.Revoked)}
}

// TokenRequest is what creating a token needs, through the API or the CLI.
type TokenRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	ExpiresIn string `json:"expiresIn"`
}

// Check validates the request and returns the expiry (zero: never).
func (tr TokenRequest) Check(now time.Time) (time.Time, *Problem) {
	if tr.Name == "" || len(tr.Name) > 128 {
		return time.Time{}, badParam("name", "want 1 to 128 bytes")
	}
	if _, ok := ParseRole(tr.Role); !ok {
		return time.Time{}, badParam("role", "want viewer, operator or admin")
	}
	if tr.ExpiresIn == "" {
		return time.Time{}, nil
	}
	d, err := time.ParseDuration(tr.ExpiresIn)
	if err != nil || d <= 0 {
		return time.Time{}, badParam("expiresIn", "want a positive duration such as 720h")
	}
	return now.Add(d), nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req TokenRequest
	if err := decodeJSON(r, s.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	exp, p := req.Check(s.cfg.Now())
	if p != nil {
		return p
	}
	secret, hash := NewToken()
	t := store.Token{Name: req.Name, Role: req.Role, Hash: hash, Expires: exp, CreatedBy: callOf(r).who.name}
	id, err := s.st.AddToken(r.Context(), t)
	if err != nil {
		return err
	}
	t.ID, t.Created = id, s.cfg.Now()
	target(r, "token "+strconv.FormatInt(id, 10))
	note(r, "role", req.Role)
	note(r, "name", req.Name)
	out := toAPIToken(t)
	out.Token = secret
	w.Header().Set("Location", "/api/v1/tokens/"+strconv.FormatInt(id, 10))
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	if err := queryParams(r).done(); err != nil {
		return err
	}
	ts, err := s.st.Tokens(r.Context())
	if err != nil {
		return err
	}
	out := make([]apiToken, len(ts))
	for i, t := range ts {
		out[i] = toAPIToken(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := queryParams(r).done(); err != nil {
		return err
	}
	target(r, "token "+strconv.FormatInt(id, 10))
	about(r, "id")
	if err := s.st.RevokeToken(r.Context(), id); err != nil {
		return err
	}
	s.tokens.clear()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type apiAudit struct {
	ID       int64           `json:"id"`
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor"`
	Role     string          `json:"role"`
	Method   string          `json:"method"`
	Path     string          `json:"path"`
	Action   string          `json:"action"`
	Target   string          `json:"target,omitempty"`
	Status   int             `json:"status"`
	RemoteIP string          `json:"remoteIp,omitempty"`
	Detail   json.RawMessage `json:"detail,omitempty"`
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	p := queryParams(r, "actor", "since", "cursor", "limit")
	f := store.AuditFilter{Actor: p.str("actor"), Since: p.time("since"), Before: p.int64("cursor"), Limit: p.intIn("limit", 100, 1, 1000)}
	if err := p.done(); err != nil {
		return err
	}
	page, next, err := s.st.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Records []apiAudit `json:"records"`
		Next    string     `json:"next,omitempty"`
	}{Records: make([]apiAudit, len(page))}
	for i, a := range page {
		out.Records[i] = apiAudit{ID: a.ID, Time: a.Time, Actor: a.Actor, Role: a.Role, Method: a.Method, Path: a.Path,
			Action: a.Action, Target: a.Target, Status: a.Status, RemoteIP: a.RemoteIP, Detail: a.Detail}
	}
	if next > 0 {
		out.Next = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type apiPromoted struct {
	Name     string    `json:"name"`
	Ready    bool      `json:"ready"`
	Progress float64   `json:"progress"`
	Created  time.Time `json:"created"`
}

func (s *Server) listPromoted(w http.ResponseWriter, r *http.Request) error {
	if err := queryParams(r).done(); err != nil {
		return err
	}
	ps, err := s.st.PromotedParams(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Parameters []apiPromoted  `json:"parameters"`
		Candidates map[string]int `json:"candidates"`
	}{Parameters: make([]apiPromoted, len(ps)), Candidates: map[string]int{}}
	for i, p := range ps {
		out.Parameters[i] = apiPromoted{Name: p.Name, Ready: p.Ready, Progress: p.Progress, Created: p.Created}
	}
	s.usage.mu.Lock()
	for k, v := range s.usage.m {
		out.Candidates[k] = v
	}
	s.usage.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) promoteParameter(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, s.cfg.MaxBodyBytes, &body); err != nil {
		return err
	}
	if err := store.CheckParamPath(body.Name); err != nil {
		return badParam("name", "%s", trimStorePrefix(err))
	}
	if _, ok := store.SummaryField(body.Name); ok {
		return badParam("name", "%s is a summary field and indexed already", body.Name)
	}
	target(r, body.Name)
	about(r, "name")
	p, err := s.st.PromoteParam(r.Context(), body.Name)
	if err != nil {
		return err
	}
	s.kickIndex()
	writeJSON(w, http.StatusAccepted, apiPromoted{Name: p.Name, Ready: p.Ready, Progress: p.Progress, Created: p.Created})
	return nil
}

func (s *Server) demoteParameter(w http.ResponseWriter, r *http.Request) error {
	if err := queryParams(r).done(); err != nil {
		return err
	}
	name := r.PathValue("name")
	target(r, name)
	about(r, "name")
	if err := s.st.DemoteParam(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
