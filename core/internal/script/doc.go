// Package script runs the JavaScript provisioning scripts: CommonJS files
// in a scripts directory, compiled once per content and evaluated in goja
// runtimes that are pooled per version of the directory (a Bundle).
//
// The Engine is a hook.Handler at the scripts stage. For each session it
// picks the handlers whose event and device filters match, takes a runtime
// from the pool, binds it to the session (Date fixed to the session's
// start, Math.random seeded per device) and calls the handlers one after
// the other on the session's goroutine. A handler's device calls block on
// hook.Session.Call; the JavaScript time budget runs only while JavaScript
// does, and Runtime.Interrupt stops a handler that exceeds it.
//
// The engine also implements hook.RequestHandler (TransferComplete and
// RequestDownload are queued for handlers that run after the CPE's empty
// POST), hook.FaultObserver ("fault" handlers) and hook.SessionEnder
// ("session.end" handlers, and releasing per-session state).
//
// docs/scripts.md describes the API scripts see.
package script
