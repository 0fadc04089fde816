package soap

import "github.com/provisor/provisor/core/cwmp"

// modelType gives the data-model type of a parameter that arrived without
// xsi:type.
func modelType(name string) (cwmp.Type, bool) { return "", false }
