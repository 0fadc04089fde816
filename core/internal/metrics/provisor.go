package metrics

import "time"

// The instruments below are shared by several components. They live here,
// on Default, so that the session engine, the script engine and the plugin
// host can count without being handed a registry.
var (
	sessionsByOutcome = Default.NewCounter("provisor_cwmp_sessions_ended_total",
		"CWMP sessions ended, by outcome (ok, cpe-timeout, refused, panic, ...).", "outcome")
	sessionDuration = Default.NewHistogram("provisor_cwmp_session_duration_seconds",
		"Duration of CWMP sessions from Inform to the final response.",
		[]float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600})
	rpcs = Default.NewCounter("provisor_cwmp_rpcs_total",
		"RPCs the ACS sent to CPEs, by method and result (ok, fault, timeout).", "method", "result")
	scriptErrors = Default.NewCounter("provisor_script_errors_total",
		"Provisioning script errors, by script and kind (exception, timeout, compile).", "script", "kind")
	pluginErrors = Default.NewCounter("provisor_plugin_errors_total",
		"Plugin errors, by plugin and kind (crash, timeout, call).", "plugin", "kind")
	connRequests = Default.NewCounter("provisor_connection_requests_total",
		"Connection requests sent to CPEs, by result.", "result")
)

// SessionEnded counts a finished CWMP session. The session engine (or the
// hook that watches session ends) calls it once per session.
func SessionEnded(outcome string, d time.Duration) {
	sessionsByOutcome.Inc(outcome)
	sessionDuration.Observe(d.Seconds())
}

// RPC counts one ACS-to-CPE call by method ("GetParameterValues") and
// result ("ok", "fault", "timeout").
func RPC(method, result string) { rpcs.Inc(method, result) }

// ScriptError counts an error of a provisioning script. script should be a
// bounded name (the bundle or file), never a device ID.
func ScriptError(script, kind string) { scriptErrors.Inc(script, kind) }

// PluginError counts an error of a plugin, by its manifest name.
func PluginError(plugin, kind string) { pluginErrors.Inc(plugin, kind) }

// ConnectionRequest counts one connection request by its result.
func ConnectionRequest(result string) { connRequests.Inc(result) }
