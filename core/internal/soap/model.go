package soap

import (
	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/datamodel"
)

// modelType gives the data-model type of a parameter that arrived without
// xsi:type, so that an untyped "3600" is stored and written back as the
// unsignedInt it is. Types CWMP cannot carry (decimal) stay strings.
func modelType(name string) (cwmp.Type, bool) {
	t, ok := datamodel.TypeOf(name)
	if !ok {
		return "", false
	}
	ct := cwmp.Type(t)
	if !ct.Known() {
		return "", false
	}
	return ct, true
}
