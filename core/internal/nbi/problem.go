package nbi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/provisor/provisor/core/internal/filestore"
	"github.com/provisor/provisor/core/internal/store"
)

// Problem is an RFC 9457 problem document. InvalidParams names the fields
// of the request that were wrong, as in the RFC's own example.
type Problem struct {
	Type          string         `json:"type"`
	Title         string         `json:"title"`
	Status        int            `json:"status"`
	Detail        string         `json:"detail,omitempty"`
	Instance      string         `json:"instance,omitempty"`
	InvalidParams []InvalidParam `json:"invalid-params,omitempty"`
}

// InvalidParam is one offending field: a JSON path into the body
// ("args.ParameterList[0].Name") or a query or path parameter ("where[1]",
// "id").
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func (p *Problem) Error() string {
	if len(p.InvalidParams) > 0 {
		return fmt.Sprintf("%s: %s: %s", p.Title, p.InvalidParams[0].Name, p.InvalidParams[0].Reason)
	}
	return p.Title + ": " + p.Detail
}

const problemBase = "https://provisor.dev/problems/"

func problem(status int, kind, detail string) *Problem {
	return &Problem{Type: problemBase + kind, Title: http.StatusText(status), Status: status, Detail: detail}
}

// badParam is a 400 naming one field.
func badParam(name, format string, args ...any) *Problem {
	reason := fmt.Sprintf(format, args...)
	p := problem(http.StatusBadRequest, "invalid-request", "the request has an invalid field: "+name)
	p.InvalidParams = []InvalidParam{{Name: name, Reason: reason}}
	return p
}

// notFound is a 404 naming the path parameter that found nothing.
func notFound(name, what string) *Problem {
	p := problem(http.StatusNotFound, "not-found", what+" does not exist")
	p.InvalidParams = []InvalidParam{{Name: name, Reason: what + " does not exist"}}
	return p
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// toProblem maps an error from a handler. field names the request field
// that a store.ErrInvalid or ErrNotFound is about, when the handler knows.
func toProblem(err error, field string) (*Problem, bool) {
	var p *Problem
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &p):
		return p, false
	case errors.As(err, &mbe):
		return problem(http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the body exceeds %d bytes", mbe.Limit)), false
	case errors.Is(err, filestore.ErrTooLarge):
		return problem(http.StatusRequestEntityTooLarge, "too-large", err.Error()), false
	case errors.Is(err, store.ErrNotFound):
		if field == "" {
			return problem(http.StatusNotFound, "not-found", trimStorePrefix(err)), false
		}
		return notFound(field, trimStorePrefix(err)), false
	case errors.Is(err, store.ErrInvalid):
		if field == "" {
			field = "body"
		}
		return badParam(field, "%s", trimStorePrefix(err)), false
	case errors.Is(err, store.ErrIllegalTransition), errors.Is(err, store.ErrConflict):
		return problem(http.StatusConflict, "conflict", trimStorePrefix(err)), false
	case errors.Is(err, context.Canceled):
		p := problem(499, "cancelled", "the request was cancelled")
		p.Title = "Client Closed Request"
		return p, false
	case errors.Is(err, context.DeadlineExceeded):
		return problem(http.StatusServiceUnavailable, "timeout", "the store did not answer in time"), true
	}
	return problem(http.StatusInternalServerError, "internal", "internal error; see the server log"), true
}

func trimStorePrefix(err error) string {
	s := err.Error()
	for _, p := range []string{"store: not found: ", "store: invalid request: ", "store: conflicting update: ", "store: "} {
		s = strings.Replace(s, p, "", 1)
	}
	return s
}

// decodeJSON reads a JSON body into v: at most limit bytes, no unknown
// fields, nothing after the value. Errors name the offending field.
func decodeJSON(r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "send application/json")
	}
	body := http.MaxBytesReader(nil, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err, "")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badParam("body", "unexpected data after the JSON value")
	}
	return nil
}

// jsonProblem turns a decoding error into a 400 naming the field; prefix
// is prepended to field names (for nested documents such as task args).
func jsonProblem(err error, prefix string) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	join := func(f string) string {
		switch {
		case prefix == "":
			return f
		case f == "":
			return prefix
		}
		return prefix + "." + f
	}
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return badParam(join("body"), "empty body; a JSON object is required")
	case errors.As(err, &se):
		return badParam(join("body"), "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		f := te.Field
		if f == "" {
			f = "body"
		}
		return badParam(join(f), "want %s, got JSON %s", jsonKind(te.Type.String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badParam(join("body"), "truncated JSON")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ := strconv.Unquote(f)
		return badParam(join(name), "unknown field")
	}
	return badParam(join("body"), "%s", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "struct"), strings.Contains(goType, "."):
		return "an object (" + goType + ")"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case goType == "bool":
		return "a boolean"
	case goType == "string":
		return "a string"
	}
	return goType
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
