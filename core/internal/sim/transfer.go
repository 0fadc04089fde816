package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/provisor/provisor/core/cwmp"
)

// maxFile bounds what a device downloads.
const maxFile = 64 << 20

// maxQueued bounds the transfers a device accepts at once (9004 beyond).
const maxQueued = 16

type transferState uint8

const (
	transferQueued   transferState = iota // waiting for its delay or time window
	transferRunning                       // in progress
	transferReported                      // done; its TransferComplete awaits a response
)

// transfer is a Download, Upload or ScheduleDownload the ACS asked for.
type transfer struct {
	req      cwmp.Download // an Upload fills the fields they share
	download bool
	method   cwmp.EventCode
	state    transferState
	// confirmOnly is a ScheduleDownload whose windows all need a user's
	// confirmation, which a simulated device never gets.
	confirmOnly bool
}

func (t *transfer) queueState() int { return int(t.state) + 1 }

// transferEffect is what a downloaded file does to the device.
type transferEffect struct {
	reboot    bool
	bootstrap bool   // the file replaced the whole configuration
	version   string // new SoftwareVersion, for firmware
	values    map[string]string
}

func transferFault(code cwmp.FaultCode, msg string) cwmp.FaultStruct {
	return cwmp.FaultStruct{FaultCode: code, FaultString: or(msg, code.Meaning())}
}

// checkTransferURL refuses what no transfer could use.
func checkTransferURL(raw string) *cwmp.Fault {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return cwmp.NewFault(cwmp.FaultInvalidArguments, "bad URL "+raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return cwmp.NewFault(cwmp.FaultUnsupportedProtocol, "scheme "+u.Scheme+" is not supported")
	}
	return nil
}

func (d *Device) download(ss *session, r *cwmp.Download) cwmp.Body {
	if f := checkTransferURL(r.URL); f != nil {
		return f
	}
	if !slices.Contains(d.sim.prof.FileTypes, r.FileType) {
		return cwmp.NewFault(cwmp.FaultInvalidArguments, "file type "+r.FileType+" is not supported")
	}
	if len(d.transfers) >= maxQueued {
		return cwmp.NewFault(cwmp.FaultResourcesExceeded, "too many queued transfers")
	}
	t := &transfer{req: *r, download: true, method: cwmp.EventMDownload}
	d.transfers = append(d.transfers, t)
	if d.sim.quirks.AbandonAfterConfigDownload && r.FileType == cwmp.FileVendorConfig && !isAlter(r) {
		ss.abandon = true
	}
	d.startAfterSession(ss, t, time.Duration(r.DelaySeconds)*time.Second)
	return &cwmp.DownloadResponse{Status: 1}
}

func (d *Device) upload(ss *session, r *cwmp.Upload) cwmp.Body {
	if f := checkTransferURL(r.URL); f != nil {
		return f
	}
	if !slices.ContainsFunc(d.sim.prof.UploadTypes, func(ft string) bool { return ft == r.FileType || strings.HasPrefix(r.FileType, ft+" ") }) {
		return cwmp.NewFault(cwmp.FaultInvalidArguments, "file type "+r.FileType+" is not supported")
	}
	if len(d.transfers) >= maxQueued {
		return cwmp.NewFault(cwmp.FaultResourcesExceeded, "too many queued transfers")
	}
	t := &transfer{req: cwmp.Download{CommandKey: r.CommandKey, FileType: r.FileType, URL: r.URL, Username: r.Username, Password: r.Password, DelaySeconds: r.DelaySeconds}, method: cwmp.EventMUpload}
	d.transfers = append(d.transfers, t)
	d.startAfterSession(ss, t, time.Duration(r.DelaySeconds)*time.Second)
	return &cwmp.UploadResponse{Status: 1}
}

// scheduleDownload answers ScheduleDownload: the download starts at the
// beginning of the first window it may use.
func (d *Device) scheduleDownload(ss *session, r *cwmp.ScheduleDownload) cwmp.Body {
	if f := checkTransferURL(r.URL); f != nil {
		return f
	}
	if !slices.Contains(d.sim.prof.FileTypes, r.FileType) {
		return cwmp.NewFault(cwmp.FaultInvalidArguments, "file type "+r.FileType+" is not supported")
	}
	ws := r.TimeWindowList
	if len(ws) == 0 || len(ws) > 2 {
		return cwmp.NewFault(cwmp.FaultInvalidArguments, "one or two time windows are needed")
	}
	for i, w := range ws {
		if w.WindowEnd <= w.WindowStart || (i > 0 && w.WindowStart < ws[i-1].WindowEnd) {
			return cwmp.NewFault(cwmp.FaultInvalidArguments, "time windows overlap or are empty")
		}
		switch w.WindowMode {
		case "1 At Any Time", "2 Immediately", "3 When Idle", "4 Confirmation Needed":
		default:
			return cwmp.NewFault(cwmp.FaultInvalidArguments, "unknown window mode "+w.WindowMode)
		}
	}
	if len(d.transfers) >= maxQueued {
		return cwmp.NewFault(cwmp.FaultResourcesExceeded, "too many queued transfers")
	}
	t := &transfer{req: cwmp.Download{CommandKey: r.CommandKey, FileType: r.FileType, URL: r.URL, Username: r.Username, Password: r.Password, FileSize: r.FileSize, TargetFileName: r.TargetFileName}, download: true, method: cwmp.EventMScheduleDownload}
	start := time.Duration(-1)
	for _, w := range ws {
		if w.WindowMode != "4 Confirmation Needed" {
			start = time.Duration(w.WindowStart) * time.Second
			break
		}
	}
	if start < 0 {
		t.confirmOnly = true
		start = time.Duration(ws[len(ws)-1].WindowEnd) * time.Second
	}
	d.transfers = append(d.transfers, t)
	d.startAfterSession(ss, t, start)
	return &cwmp.ScheduleDownloadResponse{}
}

func (d *Device) cancelTransfer(r *cwmp.CancelTransfer) cwmp.Body {
	found := false
	for _, t := range d.transfers {
		if t.req.CommandKey != r.CommandKey {
			continue
		}
		found = true
		if t.state != transferQueued {
			return cwmp.NewFault(cwmp.FaultCancelNotPermitted, "")
		}
	}
	if !found {
		return cwmp.NewFault(cwmp.FaultInvalidArguments, "no transfer with command key "+r.CommandKey)
	}
	// A cancelled transfer leaves no trace: no TransferComplete follows.
	d.transfers = slices.DeleteFunc(d.transfers, func(t *transfer) bool { return t.req.CommandKey == r.CommandKey })
	return &cwmp.CancelTransferResponse{}
}

// startAfterSession starts t once the session is over and delay has passed
// since the request, whichever is later: devices do not transfer while
// the ACS holds the session.
func (d *Device) startAfterSession(ss *session, t *transfer, delay time.Duration) {
	due := time.Now().Add(delay)
	ss.after = append(ss.after, func(d *Device) {
		d.after(max(time.Until(due), 0), func(d *Device) {
			if !slices.Contains(d.transfers, t) || t.state != transferQueued {
				return // cancelled, or wiped by a factory reset
			}
			t.state = transferRunning
			go d.perform(t)
		})
	})
}

// perform runs a transfer and reports it. It runs without d.mu.
func (d *Device) perform(t *transfer) {
	start := time.Now()
	var (
		fault  cwmp.FaultStruct
		effect transferEffect
	)
	switch {
	case t.confirmOnly:
		fault = transferFault(cwmp.FaultTimeWindowsExpired, "no user confirmed the download")
	case t.download:
		var body []byte
		body, fault = d.sim.prof.vendor.fetch(d, &t.req)
		if fault.OK() {
			effect, fault = d.sim.prof.vendor.download(d, &t.req, body)
		}
	default:
		d.mu.Lock()
		content := d.uploadContent(t.req.FileType)
		d.mu.Unlock()
		fault = d.put(t.req.URL, t.req.Username, t.req.Password, content)
	}
	complete := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(d.transfers, t) {
		return // factory reset while it ran
	}
	t.state = transferReported
	tc := cwmp.TransferComplete{CommandKey: t.req.CommandKey, FaultStruct: fault, StartTime: start, CompleteTime: complete}
	if !fault.OK() {
		tc.StartTime, tc.CompleteTime = time.Time{}, time.Time{}
	}
	d.tcOut = append(d.tcOut, completion{tc: tc, method: t.method})
	if !fault.OK() {
		d.wantSession()
		return
	}
	for name, v := range effect.values {
		if e, ok := d.t.get(name); ok && e.kind == kindParam {
			d.t.set(name, v)
		}
	}
	if effect.bootstrap {
		// A configuration that replaces everything: what the ACS set is
		// gone and the device bootstraps again.
		sv := d.t.p.Root + "DeviceInfo.SoftwareVersion"
		v, kept := d.t.vals[sv]
		d.t.vals = nil
		if kept {
			d.t.set(sv, v)
		}
	}
	if effect.reboot {
		switch d.state {
		case stateSession, stateQueued, stateCR:
			// Not in the middle of a session: the reboot waits for its end.
			d.rebootAfter = true
			d.bootstrapAft = d.bootstrapAft || effect.bootstrap
			d.newVersion = effect.version
			return
		case stateIdle:
			if effect.bootstrap {
				d.bootstrapped = false
			}
			d.reboot()
		}
	}
	d.installVersion(effect.version)
	if !effect.reboot {
		d.wantSession()
	}
}

// installVersion puts a new image's version in place. SoftwareVersion has
// forced active notification, so the boot Inform reports a value change.
func (d *Device) installVersion(v string) {
	if v == "" {
		return
	}
	name := d.t.p.Root + "DeviceInfo.SoftwareVersion"
	if e, ok := d.t.get(name); ok && d.value(e) != v {
		d.t.set(name, v)
		d.noteChange(e)
	}
}

func isAlter(r *cwmp.Download) bool {
	u, _ := url.Parse(r.URL)
	return strings.HasSuffix(strings.ToLower(r.TargetFileName), ".alter") ||
		(u != nil && strings.HasSuffix(strings.ToLower(u.Path), ".alter"))
}

// ---- HTTP ----

// fetch downloads a file with the Download's credentials, answering Basic
// and Digest challenges, and maps failures to TR-069 transfer faults.
func (d *Device) fetch(rawURL, user, pass string, limit int64) (body []byte, fault cwmp.FaultStruct) {
	status := 0
	if fn := d.sim.cfg.OnFileRequest; fn != nil {
		defer func() {
			fn(d, FileRequest{Method: http.MethodGet, URL: rawURL, Status: status, Body: body, Fault: fault})
		}()
	}
	resp, fault := d.request(http.MethodGet, rawURL, user, pass, nil)
	if !fault.OK() {
		return nil, fault
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, transferFault(cwmp.FaultTransferAuthFailure, "HTTP "+strconv.Itoa(resp.StatusCode))
	case resp.StatusCode/100 != 2:
		return nil, transferFault(cwmp.FaultFileAccessFailure, "HTTP "+strconv.Itoa(resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, transferFault(cwmp.FaultDownloadIncomplete, err.Error())
	}
	if int64(len(body)) > limit {
		return nil, transferFault(cwmp.FaultDownloadFailure, "file too large")
	}
	return body, cwmp.FaultStruct{}
}

// put uploads content with HTTP PUT, as TR-069 specifies for HTTP uploads.
func (d *Device) put(rawURL, user, pass string, content []byte) (fault cwmp.FaultStruct) {
	status := 0
	if fn := d.sim.cfg.OnFileRequest; fn != nil {
		defer func() {
			fn(d, FileRequest{Method: http.MethodPut, URL: rawURL, Status: status, Body: content, Fault: fault})
		}()
	}
	resp, fault := d.request(http.MethodPut, rawURL, user, pass, content)
	if !fault.OK() {
		if fault.FaultCode == cwmp.FaultDownloadFailure {
			fault.FaultCode = cwmp.FaultUploadFailure
		}
		return fault
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return transferFault(cwmp.FaultTransferAuthFailure, "HTTP "+strconv.Itoa(resp.StatusCode))
	case resp.StatusCode/100 != 2:
		return transferFault(cwmp.FaultUploadFailure, "HTTP "+strconv.Itoa(resp.StatusCode))
	}
	return cwmp.FaultStruct{}
}

// request sends one transfer request, and again with credentials if the
// server challenges. Only a failure to reach the server is a fault here;
// the caller judges the status.
func (d *Device) request(method, rawURL, user, pass string, body []byte) (*http.Response, cwmp.FaultStruct) {
	ctx := d.sim.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	send := func(auth string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if body == nil {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		req.Header.Set("User-Agent", d.sim.prof.UserAgent)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return d.sim.files.Do(req)
	}
	resp, err := send("")
	if err != nil {
		return nil, transferFault(cwmp.FaultFileServerUnreachable, err.Error())
	}
	if resp.StatusCode != http.StatusUnauthorized || user == "" {
		return resp, cwmp.FaultStruct{}
	}
	ch, ok := pickChallenge(parseChallenges(resp.Header.Values("WWW-Authenticate")))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if !ok {
		return nil, transferFault(cwmp.FaultTransferAuthFailure, "no usable authentication challenge")
	}
	d.mu.Lock()
	cnonce := fmt.Sprintf("%016x", d.rng.next())
	d.mu.Unlock()
	u, _ := url.Parse(rawURL)
	auth, err := authorization(ch, method, u.RequestURI(), user, pass, 1, cnonce)
	if err != nil {
		return nil, transferFault(cwmp.FaultTransferAuthFailure, err.Error())
	}
	resp, err = send(auth)
	if err != nil {
		return nil, transferFault(cwmp.FaultFileServerUnreachable, err.Error())
	}
	return resp, cwmp.FaultStruct{}
}

// ---- what files do ----

// standardFiles is the file behaviour of a generic TR-069 device.
type standardFiles struct{}

// FirmwareMagic starts a simulated firmware image whose first line names
// the version it installs: "provisor-sim-firmware 2.0.1". Any other
// non-empty file is accepted as an image of the running version.
const FirmwareMagic = "provisor-sim-firmware "

func (standardFiles) fetch(d *Device, r *cwmp.Download) ([]byte, cwmp.FaultStruct) {
	body, f := d.fetch(r.URL, r.Username, r.Password, maxFile)
	if !f.OK() {
		return nil, f
	}
	if r.FileSize > 0 && int64(r.FileSize) != int64(len(body)) {
		return nil, transferFault(cwmp.FaultFileCorrupted, fmt.Sprintf("got %d bytes, expected %d", len(body), r.FileSize))
	}
	return body, f
}

func (standardFiles) download(d *Device, r *cwmp.Download, body []byte) (transferEffect, cwmp.FaultStruct) {
	switch r.FileType {
	case cwmp.FileFirmware:
		if len(body) == 0 {
			return transferEffect{}, transferFault(cwmp.FaultFileCorrupted, "empty image")
		}
		return transferEffect{reboot: true, version: firmwareVersion(body)}, cwmp.FaultStruct{}
	case cwmp.FileVendorConfig:
		vals, ok := parseConfig(d, body)
		if !ok {
			return transferEffect{}, transferFault(cwmp.FaultFileCorrupted, "not a configuration file")
		}
		return transferEffect{reboot: true, values: vals}, cwmp.FaultStruct{}
	}
	return transferEffect{}, cwmp.FaultStruct{}
}

func firmwareVersion(body []byte) string {
	if !bytes.HasPrefix(body, []byte(FirmwareMagic)) {
		return ""
	}
	line, _, _ := bytes.Cut(body[len(FirmwareMagic):], []byte("\n"))
	return strings.TrimSpace(string(line))
}

// parseConfig reads the simulator's configuration file format, one
// "Path.To.Parameter=value" per line ('#' comments), as written by a
// "1 Vendor Configuration File" upload.
func parseConfig(d *Device, body []byte) (map[string]string, bool) {
	vals := map[string]string{}
	d.mu.Lock()
	defer d.mu.Unlock()
	for line := range strings.SplitSeq(string(body), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, false
		}
		name = strings.TrimSpace(name)
		if e, ok := d.t.get(name); ok && e.kind == kindParam && validValue(e.typ, v) {
			vals[name] = v
		}
	}
	return vals, true
}

// uploadContent is the file an Upload sends (d.mu held).
func (d *Device) uploadContent(fileType string) []byte {
	if v, ok := d.sim.prof.vendor.(interface {
		upload(d *Device, fileType string) ([]byte, bool)
	}); ok {
		if b, ok := v.upload(d, fileType); ok {
			return b
		}
	}
	var b bytes.Buffer
	now := time.Now().UTC().Format(time.RFC3339)
	if strings.HasPrefix(fileType, "2 ") || strings.HasPrefix(fileType, "4 ") {
		fmt.Fprintf(&b, "%s %s boot\n", cwmp.FormatDateTime(d.bootAt, false), d.serial)
		fmt.Fprintf(&b, "%s %s upload requested\n", now, d.serial)
		return b.Bytes()
	}
	fmt.Fprintf(&b, "# %s %s configuration, %s\n", d.sim.ident.productClass, d.serial, now)
	d.t.walk(d.t.p.Root, func(e *entry) bool {
		if e.kind == kindParam && e.writable && !e.is(flagHidden) {
			fmt.Fprintf(&b, "%s=%s\n", e.name, d.value(e))
		}
		return true
	})
	return b.Bytes()
}

// ---- software modules (ChangeDUState) ----

func (d *Device) changeDUState(ss *session, r *cwmp.ChangeDUState) cwmp.Body {
	if len(r.Operations) == 0 {
		return cwmp.NewFault(cwmp.FaultInvalidArguments, "no operations")
	}
	for _, op := range r.Operations {
		if op.Kind == cwmp.DUInstall {
			if f := checkTransferURL(op.URL); f != nil {
				return f
			}
		}
	}
	ops := slices.Clone(r.Operations)
	key := r.CommandKey
	ss.after = append(ss.after, func(d *Device) {
		go d.runDUOps(key, ops)
	})
	return &cwmp.ChangeDUStateResponse{}
}

func (d *Device) duTable() string { return d.t.p.Root + "SoftwareModules.DeploymentUnit." }

// findDU returns the row of the deployment unit with uuid (and version,
// when given).
func (d *Device) findDU(uuid, version string) string {
	table := d.duTable()
	found := ""
	d.t.walk(table, func(e *entry) bool {
		if e.kind == kindObject && depth(e.name) == depth(table)+1 &&
			d.raw(e.name+"UUID") == uuid && (version == "" || d.raw(e.name+"Version") == version) {
			found = e.name
			return false
		}
		return true
	})
	return found
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func (d *Device) runDUOps(key string, ops []cwmp.DUOperation) {
	results := make([]cwmp.OpResult, 0, len(ops))
	for _, op := range ops {
		start := time.Now()
		res := cwmp.OpResult{UUID: op.UUID, Version: op.Version, StartTime: start}
		fail := func(code cwmp.FaultCode, msg string) {
			res.Fault = cwmp.DUFaultStruct{FaultCode: code, FaultString: or(msg, code.Meaning())}
			res.CompleteTime = time.Now()
			if res.CurrentState == "" {
				res.CurrentState = "Failed"
			}
			results = append(results, res)
		}
		var body []byte
		if op.URL != "" && op.Kind != cwmp.DUUninstall {
			var f cwmp.FaultStruct
			body, f = d.fetch(op.URL, op.Username, op.Password, maxFile)
			if !f.OK() {
				fail(f.FaultCode, f.FaultString)
				continue
			}
		}
		d.mu.Lock()
		switch op.Kind {
		case cwmp.DUInstall:
			if op.UUID == "" {
				v := mix(d.sim.cfg.Seed, d.number(), 0xd0, d.rng.next())
				w := mix(v)
				op.UUID = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(v), uint16(v>>32), uint16(v>>48)&0xfff, uint16(w)&0xfff, w>>16&0xffffffffffff)
				res.UUID = op.UUID
			}
			ee := d.t.p.Root + "SoftwareModules.ExecEnv.1"
			switch {
			case !validUUID(op.UUID):
				d.mu.Unlock()
				fail(cwmp.FaultInvalidUUID, "")
				continue
			case op.ExecutionEnvRef != "" && !d.has(strings.TrimSuffix(op.ExecutionEnvRef, ".")+"."):
				d.mu.Unlock()
				fail(cwmp.FaultUnknownExecutionEnv, "")
				continue
			case d.findDU(op.UUID, "") != "":
				d.mu.Unlock()
				fail(cwmp.FaultDuplicateDU, "")
				continue
			}
			if op.ExecutionEnvRef != "" {
				ee = strings.TrimSuffix(op.ExecutionEnvRef, ".")
			}
			rs := d.t.p.rows[patternOf(d.duTable())+"{i}."]
			n := d.t.addRow(d.duTable(), rs)
			row := d.duTable() + strconv.FormatUint(uint64(n), 10) + "."
			version := duVersion(body, "1.0")
			name := strings.TrimSuffix(path.Base(op.URL), path.Ext(op.URL))
			for k, v := range map[string]string{
				"UUID": op.UUID, "DUID": strconv.FormatUint(uint64(n), 10), "Name": name, "Status": "Installed",
				"Resolved": "true", "URL": op.URL, "Vendor": d.sim.ident.manufacturer, "Version": version,
				"ExecutionEnvRef": ee, "Description": "installed by ChangeDUState",
			} {
				d.t.set(row+k, v)
			}
			res.DeploymentUnitRef, res.Version, res.CurrentState, res.Resolved = strings.TrimSuffix(row, "."), version, "Installed", true
		case cwmp.DUUpdate:
			row := d.findDU(op.UUID, "")
			if row == "" {
				d.mu.Unlock()
				fail(cwmp.FaultUnknownDU, "")
				continue
			}
			old := d.raw(row + "Version")
			version := duVersion(body, op.Version)
			if version == "" {
				version = bumpVersion(old)
			}
			if version == old {
				d.mu.Unlock()
				fail(cwmp.FaultDUVersionExists, "")
				continue
			}
			d.t.set(row+"Version", version)
			if op.URL != "" {
				d.t.set(row+"URL", op.URL)
			}
			res.DeploymentUnitRef, res.Version, res.CurrentState, res.Resolved = strings.TrimSuffix(row, "."), version, "Installed", true
		case cwmp.DUUninstall:
			row := d.findDU(op.UUID, op.Version)
			if row == "" {
				d.mu.Unlock()
				fail(cwmp.FaultUnknownDU, "")
				continue
			}
			res.DeploymentUnitRef, res.Version, res.CurrentState = strings.TrimSuffix(row, "."), d.raw(row+"Version"), "Uninstalled"
			d.t.deleteRow(row)
		default:
			d.mu.Unlock()
			fail(cwmp.FaultInvalidArguments, "unknown operation "+op.Kind)
			continue
		}
		d.mu.Unlock()
		res.CompleteTime = time.Now()
		results = append(results, res)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.duOut = append(d.duOut, cwmp.DUStateChangeComplete{Results: results, CommandKey: key})
	d.wantSession()
}

// has is Has for a caller that holds d.mu.
func (d *Device) has(name string) bool { _, ok := d.t.get(name); return ok }

// duVersion reads "version=X" from the first line of a package, else def.
func duVersion(body []byte, def string) string {
	line, _, _ := bytes.Cut(body, []byte("\n"))
	if v, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "version="); ok && v != "" {
		return v
	}
	return def
}

func bumpVersion(v string) string {
	i := strings.LastIndexByte(v, '.')
	n, err := strconv.Atoi(v[i+1:])
	if err != nil {
		return v + ".1"
	}
	return v[:i+1] + strconv.Itoa(n+1)
}
