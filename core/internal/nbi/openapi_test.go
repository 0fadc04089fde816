package nbi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func openapiDoc(t *testing.T) map[string]any {
	t.Helper()
	b, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

var methods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// Every route is in the document and every operation of the document is a
// route, with the same operationId; public routes say so.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := openapiDoc(t)
	paths := doc["paths"].(map[string]any)
	inDoc := map[string]string{}
	public := map[string]bool{}
	for p, item := range paths {
		for m, op := range item.(map[string]any) {
			if !slices.Contains(methods, m) {
				continue
			}
			o := op.(map[string]any)
			key := strings.ToUpper(m) + " " + p
			inDoc[key], _ = o["operationId"].(string)
			if sec, ok := o["security"].([]any); ok && len(sec) == 0 {
				public[key] = true
			}
		}
	}
	inRoutes := map[string]string{}
	for _, rt := range routes {
		key := rt.method + " " + rt.path
		inRoutes[key] = rt.op
		if public[key] != (rt.role == RoleNone) {
			t.Errorf("%s: public in the document %v, in the router %v", key, public[key], rt.role == RoleNone)
		}
	}
	for k, op := range inRoutes {
		if inDoc[k] != op {
			t.Errorf("route %s (%s) is documented as %q", k, op, inDoc[k])
		}
	}
	for k := range inDoc {
		if _, ok := inRoutes[k]; !ok {
			t.Errorf("documented operation %s is no route", k)
		}
	}
}

// The document is a well-formed OpenAPI 3 document: the required fields,
// operations with unique IDs and responses, parameters declared for every
// path template, and every $ref resolving.
func TestOpenAPIWellFormed(t *testing.T) {
	doc := openapiDoc(t)
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if v, _ := doc["openapi"].(string); !regexp.MustCompile(`^3\.[01]\.\d+$`).MatchString(v) {
		fail("openapi version %q", v)
	}
	info, _ := doc["info"].(map[string]any)
	if s, _ := info["title"].(string); s == "" {
		fail("info.title missing")
	}
	if s, _ := info["version"].(string); s == "" {
		fail("info.version missing")
	}
	comps, _ := doc["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)

	// Every $ref points at something.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, err := resolve(doc, ref); err != nil {
					fail("%s: %v", path, err)
				}
			}
			for k, y := range x {
				walk(path+"/"+k, y)
			}
		case []any:
			for i, y := range x {
				walk(path+"/"+strconv.Itoa(i), y)
			}
		}
	}
	walk("#", doc)

	checkSecurity := func(where string, v any) {
		list, ok := v.([]any)
		if !ok {
			return
		}
		for _, req := range list {
			for name := range req.(map[string]any) {
				if _, ok := schemes[name]; !ok {
					fail("%s: unknown security scheme %q", where, name)
				}
			}
		}
	}
	checkSecurity("security", doc["security"])

	ids := map[string]string{}
	tmpl := regexp.MustCompile(`\{([^}]+)\}`)
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		fail("no paths")
	}
	keys := make([]string, 0, len(paths))
	for p := range paths {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		if !strings.HasPrefix(p, "/") {
			fail("path %q does not start with /", p)
		}
		item := paths[p].(map[string]any)
		pathParams := docParams(t, doc, item["parameters"])
		for k := range item {
			if !slices.Contains(methods, k) && k != "parameters" && k != "summary" && k != "description" {
				fail("%s: unexpected key %q", p, k)
			}
		}
		for _, m := range methods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			where := strings.ToUpper(m) + " " + p
			id, _ := op["operationId"].(string)
			if id == "" {
				fail("%s: no operationId", where)
			} else if other, dup := ids[id]; dup {
				fail("%s: operationId %s also on %s", where, id, other)
			}
			ids[id] = where
			checkSecurity(where, op["security"])
			all := append(slices.Clone(pathParams), docParams(t, doc, op["parameters"])...)
			for _, prm := range all {
				in, _ := prm["in"].(string)
				name, _ := prm["name"].(string)
				if name == "" || !slices.Contains([]string{"query", "header", "path", "cookie"}, in) {
					fail("%s: malformed parameter %v", where, prm)
				}
				if prm["schema"] == nil && prm["content"] == nil {
					fail("%s: parameter %s has no schema", where, name)
				}
				if in == "path" && (prm["required"] != true || !strings.Contains(p, "{"+name+"}")) {
					fail("%s: path parameter %s not required or not in the path", where, name)
				}
			}
			for _, mt := range tmpl.FindAllStringSubmatch(p, -1) {
				if !slices.ContainsFunc(all, func(x map[string]any) bool { return x["in"] == "path" && x["name"] == mt[1] }) {
					fail("%s: path parameter {%s} not declared", where, mt[1])
				}
			}
			resps, _ := op["responses"].(map[string]any)
			if len(resps) == 0 {
				fail("%s: no responses", where)
			}
			for code, rv := range resps {
				if code != "default" && !regexp.MustCompile(`^[1-5](\d\d|XX)$`).MatchString(code) {
					fail("%s: response code %q", where, code)
				}
				r := rv.(map[string]any)
				if ref, ok := r["$ref"].(string); ok {
					rr, _ := resolve(doc, ref)
					r, _ = rr.(map[string]any)
				}
				if d, _ := r["description"].(string); d == "" {
					fail("%s %s: response without description", where, code)
				}
			}
			if rb, ok := op["requestBody"].(map[string]any); ok {
				if c, _ := rb["content"].(map[string]any); len(c) == 0 {
					fail("%s: requestBody without content", where)
				}
			}
		}
	}
	// Schemas: required names exist among the properties.
	schemas, _ := comps["schemas"].(map[string]any)
	for name, sv := range schemas {
		s := sv.(map[string]any)
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := props[r.(string)]; !ok {
				fail("schema %s requires %v, which it does not define", name, r)
			}
		}
	}
	for _, e := range errs {
		t.Error(e)
	}
}

func docParams(t *testing.T, doc map[string]any, v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, p := range list {
		m := p.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			r, err := resolve(doc, ref)
			if err != nil {
				t.Error(err)
				continue
			}
			m = r.(map[string]any)
		}
		out = append(out, m)
	}
	return out
}

// resolve follows a local JSON pointer reference.
func resolve(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("non-local $ref %q", ref)
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not an object", ref, part)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %q: no %q", ref, part)
		}
	}
	return cur, nil
}

// The served document is the embedded one.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	r := e.do(RoleViewer, "GET", "/api/v1/openapi.json", nil)
	want, _ := OpenAPI()
	if r.status != 200 || string(r.body) != string(want) || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", r.status, r.header)
	}
}
