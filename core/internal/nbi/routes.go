package nbi

// routes is every operation of the API. openapi.yaml describes the same
// list; TestOpenAPIMatchesRoutes keeps them in step.
var routes = []route{
	{"GET", "/healthz", "healthz", RoleNone, (*Server).healthz},
	{"GET", "/readyz", "readyz", RoleNone, (*Server).readyz},
	{"GET", "/metrics", "metrics", RoleViewer, (*Server).serveMetrics},
	{"GET", "/api/v1/openapi.json", "getOpenAPI", RoleViewer, (*Server).serveOpenAPI},

	{"GET", "/api/v1/devices", "listDevices", RoleViewer, (*Server).listDevices},
	{"GET", "/api/v1/devices/{id}", "getDevice", RoleViewer, (*Server).getDevice},
	{"DELETE", "/api/v1/devices/{id}", "deleteDevice", RoleAdmin, (*Server).deleteDevice},
	{"POST", "/api/v1/devices/{id}/tags", "addDeviceTags", RoleOperator, (*Server).addTags},
	{"DELETE", "/api/v1/devices/{id}/tags/{tag}", "removeDeviceTag", RoleOperator, (*Server).removeTag},
	{"DELETE", "/api/v1/devices/{id}/credential", "deleteDeviceCredential", RoleOperator, (*Server).deleteCredential},
	{"GET", "/api/v1/devices/{id}/events", "listDeviceEvents", RoleViewer, (*Server).listDeviceEvents},
	{"GET", "/api/v1/devices/{id}/sessions", "listDeviceSessions", RoleViewer, (*Server).listDeviceSessions},
	{"GET", "/api/v1/devices/{id}/connection-requests", "listDeviceConnectionRequests", RoleViewer, (*Server).listConnectionRequests},

	{"GET", "/api/v1/tasks", "listTasks", RoleViewer, (*Server).listTasks},
	{"POST", "/api/v1/tasks", "createTasks", RoleOperator, (*Server).createTasks},
	{"GET", "/api/v1/tasks/{id}", "getTask", RoleViewer, (*Server).getTask},
	{"POST", "/api/v1/tasks/{id}/cancel", "cancelTask", RoleOperator, (*Server).cancelTask},
	{"POST", "/api/v1/tasks/{id}/retry", "retryTask", RoleOperator, (*Server).retryTask},

	{"GET", "/api/v1/faults", "listFaults", RoleViewer, (*Server).listFaults},
	{"DELETE", "/api/v1/faults/{id}", "deleteFault", RoleOperator, (*Server).deleteFault},
	{"POST", "/api/v1/faults/{id}/retry", "retryFault", RoleOperator, (*Server).retryFault},

	{"GET", "/api/v1/files", "listFiles", RoleViewer, (*Server).listFiles},
	{"POST", "/api/v1/files", "uploadFile", RoleOperator, (*Server).uploadFile},
	{"GET", "/api/v1/files/{id}", "getFile", RoleViewer, (*Server).getFile},
	{"GET", "/api/v1/files/{id}/content", "downloadFile", RoleViewer, (*Server).downloadFile},
	{"DELETE", "/api/v1/files/{id}", "deleteFile", RoleOperator, (*Server).deleteFile},

	{"GET", "/api/v1/events", "streamEvents", RoleViewer, (*Server).streamEvents},

	{"GET", "/api/v1/promoted-parameters", "listPromotedParameters", RoleViewer, (*Server).listPromoted},
	{"POST", "/api/v1/promoted-parameters", "promoteParameter", RoleAdmin, (*Server).promoteParameter},
	{"DELETE", "/api/v1/promoted-parameters/{name}", "demoteParameter", RoleAdmin, (*Server).demoteParameter},

	{"GET", "/api/v1/tokens", "listTokens", RoleAdmin, (*Server).listTokens},
	{"POST", "/api/v1/tokens", "createToken", RoleAdmin, (*Server).createToken},
	{"DELETE", "/api/v1/tokens/{id}", "revokeToken", RoleAdmin, (*Server).revokeToken},
	{"GET", "/api/v1/audit", "listAudit", RoleAdmin, (*Server).listAudit},
}

// Route describes an operation, for documentation and tests.
type Route struct {
	Method, Path, Operation string
	Role                    Role
}

// Routes lists the API's operations.
func Routes() []Route {
	out := make([]Route, len(routes))
	for i, r := range routes {
		out[i] = Route{r.method, r.path, r.op, r.role}
	}
	return out
}
