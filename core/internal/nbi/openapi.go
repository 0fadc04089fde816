package nbi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v3"
)

// openapiYAML is the API's description, written by hand next to the code
// and served as JSON.
//
//go:embed openapi.yaml
var openapiYAML []byte

var openapiJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, err
	}
	doc, err := jsonable(doc)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
})

// OpenAPI returns the OpenAPI document as JSON.
func OpenAPI() ([]byte, error) { return openapiJSON() }

// jsonable turns YAML's decoded maps into ones encoding/json accepts.
func jsonable(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			y, err := jsonable(x)
			if err != nil {
				return nil, err
			}
			t[k] = y
		}
		return t, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			ks, ok := k.(string)
			if !ok {
				ks = fmt.Sprint(k)
			}
			y, err := jsonable(x)
			if err != nil {
				return nil, err
			}
			out[ks] = y
		}
		return out, nil
	case []any:
		for i, x := range t {
			y, err := jsonable(x)
			if err != nil {
				return nil, err
			}
			t[i] = y
		}
		return t, nil
	}
	return v, nil
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	if err := queryParams(r).done(); err != nil {
		return err
	}
	b, err := openapiJSON()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return nil
}
