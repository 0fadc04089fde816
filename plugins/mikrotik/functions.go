package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/provisor/provisor/sdk"
)

func (p *Plugin) functions() sdk.Functions {
	return sdk.Functions{
		"runScript": {NeedsSession: true, Func: p.runScript,
			Doc: "runScript(rsc): runs a RouterOS script on the device (Download 3 Vendor Configuration File of a generated .alter file)"},
		"replaceConfig": {NeedsSession: true, Func: p.replaceConfig,
			Doc: "replaceConfig(file): replaces the whole configuration with a stored .rsc file; the device reboots and returns with 0 BOOTSTRAP, 1 BOOT"},
		"firmware": {NeedsSession: true, Func: p.firmware,
			Doc: "firmware(version, {packages}): upgrades RouterOS through an <upgrade> XML descriptor of the stored .npk packages for the device's architecture"},
		"factoryConfig": {NeedsSession: true, Func: p.factoryConfig,
			Doc: "factoryConfig(file): installs a stored script as the configuration /system reset-configuration applies (X MIKROTIK Factory Configuration File)"},
		"backup": {NeedsSession: true, Func: p.backup,
			Doc: "backup(): uploads the device's /export (Upload 1 Vendor Configuration File)"},
		"logs": {NeedsSession: true, Func: p.logs,
			Doc: "logs(): uploads the device's log (Upload 2 Vendor Log File)"},
		"onboardScript": {Func: p.onboardScript,
			Doc: "onboardScript({acsURL, username, password, serial, ca, interval}): the RouterOS commands that point a factory-fresh router at this ACS"},
	}
}

// Transfer is what the transfer functions return.
type Transfer struct {
	CommandKey string `json:"commandKey"`
	// Status 1: the device reports the end in a TransferComplete, often
	// in a later session; 0: done.
	Status int    `json:"status"`
	File   string `json:"file,omitempty"`
	// Packages are the .npk files a firmware descriptor lists.
	Packages []string `json:"packages,omitempty"`
}

// safeName keeps a name to what the file store and RouterOS's file
// system take without trouble.
var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

func shortHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

// stringArg reads a required, non-empty string argument.
func stringArg(c *sdk.Call, i int, what string) (string, error) {
	var s string
	if err := c.Arg(i, &s); err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s: %s is empty", c.Name, what)
	}
	return s, nil
}

// runScript stores the script as a one-off .alter file and has the
// device fetch it: RouterOS runs a configuration file whose URL ends in
// ".alter" as a script, without a reboot (reference A.8).
func (p *Plugin) runScript(ctx context.Context, c *sdk.Call) (any, error) {
	rsc, err := stringArg(c, 0, "the script")
	if err != nil {
		return nil, err
	}
	if len(rsc) > p.cfg.MaxScriptBytes {
		return nil, fmt.Errorf("runScript: script of %d bytes; the limit is %d", len(rsc), p.cfg.MaxScriptBytes)
	}
	if !strings.HasSuffix(rsc, "\n") {
		rsc += "\n"
	}
	dev := c.Session.Device()
	name := fmt.Sprintf("mikrotik-%s-%s.alter", safeName(dev.SerialNumber), shortHash([]byte(rsc)))
	f, err := p.host.Files().Put(ctx, sdk.FileInfo{Name: name, FileType: sdk.FileVendorConfig, ContentType: "text/plain; charset=utf-8",
		DeviceID: dev.ID, OUI: dev.OUI, ProductClass: dev.ProductClass}, []byte(rsc))
	if err != nil {
		return nil, fmt.Errorf("runScript: storing the script: %w", err)
	}
	return p.download(ctx, c.Session, f, sdk.FileVendorConfig, name)
}

func (p *Plugin) download(ctx context.Context, s sdk.Session, f sdk.FileInfo, fileType, target string) (Transfer, error) {
	file := f.ID
	if file == "" {
		file = f.Name
	}
	u, err := p.host.Files().URL(ctx, file, p.ttl)
	if err != nil {
		return Transfer{}, fmt.Errorf("signing a URL for %s: %w", f.Name, err)
	}
	r, err := s.Download(ctx, sdk.DownloadRequest{FileType: fileType, URL: u, TargetFileName: target, FileSize: uint32(max(f.Size, 0))})
	if err != nil {
		return Transfer{}, err
	}
	return Transfer{CommandKey: r.CommandKey, Status: r.Status, File: f.Name}, nil
}

// storedFile finds a file the operator stored, by id or name.
func (p *Plugin) storedFile(ctx context.Context, ref string) (sdk.FileInfo, error) {
	for _, q := range []sdk.FileQuery{{NamePrefix: ref}, {}} {
		list, err := p.host.Files().List(ctx, q)
		if err != nil {
			return sdk.FileInfo{}, err
		}
		for _, f := range list { // newest first
			if f.ID == ref || f.Name == ref {
				return f, nil
			}
		}
	}
	return sdk.FileInfo{}, fmt.Errorf("no stored file %q", ref)
}

// replaceConfig pushes a full configuration. RouterOS resets and applies
// it, dropping the session and coming back with 0 BOOTSTRAP, 1 BOOT, so
// the push is noted and checked at that boot.
func (p *Plugin) replaceConfig(ctx context.Context, c *sdk.Call) (any, error) {
	ref, err := stringArg(c, 0, "the file")
	if err != nil {
		return nil, err
	}
	f, err := p.storedFile(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("replaceConfig: %w", err)
	}
	if strings.HasSuffix(strings.ToLower(f.Name), ".alter") {
		return nil, fmt.Errorf("replaceConfig: %s ends in .alter, which RouterOS would run as a script; use runScript for that", f.Name)
	}
	target := strings.TrimSuffix(f.Name, path.Ext(f.Name)) + ".rsc"
	t, err := p.download(ctx, c.Session, f, sdk.FileVendorConfig, target)
	if err != nil {
		return nil, err
	}
	dev := c.Session.Device()
	if err := p.expect(ctx, dev.ID, expectation{Kind: "replaceConfig", CommandKey: t.CommandKey, At: c.Session.Start()}); err != nil {
		c.Session.Logger().Warn("could not note the configuration push", "err", err)
	}
	return t, nil
}

// factoryConfig installs the script RouterOS applies on a reset: the
// safety net that keeps a reset router reachable (reference A.8, A.11).
func (p *Plugin) factoryConfig(ctx context.Context, c *sdk.Call) (any, error) {
	ref, err := stringArg(c, 0, "the file")
	if err != nil {
		return nil, err
	}
	f, err := p.storedFile(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("factoryConfig: %w", err)
	}
	return p.download(ctx, c.Session, f, fileFactoryConfig, safeName(f.Name))
}

func (p *Plugin) upload(ctx context.Context, s sdk.Session, fileType string) (Transfer, error) {
	u, err := p.host.Files().UploadURL(ctx, s.Device().ID, fileType, p.ttl)
	if err != nil {
		return Transfer{}, err
	}
	r, err := s.Upload(ctx, sdk.UploadRequest{FileType: fileType, URL: u})
	if err != nil {
		return Transfer{}, err
	}
	return Transfer{CommandKey: r.CommandKey, Status: r.Status}, nil
}

func (p *Plugin) backup(ctx context.Context, c *sdk.Call) (any, error) {
	return p.upload(ctx, c.Session, sdk.FileUploadVendorConfig)
}

func (p *Plugin) logs(ctx context.Context, c *sdk.Call) (any, error) {
	return p.upload(ctx, c.Session, sdk.FileUploadVendorLog)
}

// upgradeDescriptor is the XML RouterOS fetches as its firmware image: it
// lists the packages to install (reference A.8).
type upgradeDescriptor struct {
	XMLName xml.Name `xml:"upgrade"`
	Version string   `xml:"version,attr"`
	Type    string   `xml:"type,attr"`
	Config  struct{} `xml:"config"`
	Links   []string `xml:"links>link>url"`
}

// Descriptor renders the <upgrade> document for package URLs.
func Descriptor(urls []string) []byte {
	b, _ := xml.Marshal(upgradeDescriptor{Version: "1", Type: "links", Links: urls})
	return append([]byte(xml.Header), b...)
}

// packageFor finds the stored .npk of a package for a version and
// architecture, in RouterOS 7 naming (routeros-7.14.2-arm.npk) or 6
// naming (routeros-mipsbe-6.49.10.npk).
func packageFor(files []sdk.FileInfo, pkg, version, arch string) (sdk.FileInfo, bool) {
	want := []string{pkg + "-" + version + "-" + arch + ".npk", pkg + "-" + arch + "-" + version + ".npk"}
	for _, f := range files {
		if slices.Contains(want, strings.ToLower(f.Name)) {
			return f, true
		}
	}
	return sdk.FileInfo{}, false
}

type firmwareOptions struct {
	// Packages to install besides routeros and tr069-client, such as
	// "wifi-qcom" or "container".
	Packages []string `json:"packages"`
	// Arch overrides the architecture the device reports.
	Arch string `json:"arch"`
}

// firmware builds the descriptor for the device's architecture from the
// stored packages and has the device fetch it. tr069-client is always in
// it: upgrading RouterOS without it would leave the router without its
// ACS (reference A.2).
func (p *Plugin) firmware(ctx context.Context, c *sdk.Call) (any, error) {
	ver, err := stringArg(c, 0, "the version")
	if err != nil {
		return nil, err
	}
	var opts firmwareOptions
	if err := c.OptionalArg(1, &opts); err != nil {
		return nil, err
	}
	s := c.Session
	arch := opts.Arch
	if arch == "" {
		if v, ok, err := s.Cached(ctx, paramArch); err == nil && ok && v.Value != "" {
			arch = v.Value
		} else {
			vals, err := s.GetParameterValues(ctx, paramArch)
			if err != nil {
				return nil, fmt.Errorf("firmware: reading the architecture: %w", err)
			}
			if len(vals) == 1 {
				arch = vals[0].Value
			}
		}
	}
	if arch == "" {
		return nil, fmt.Errorf("firmware: the device does not report %s; pass {arch}", paramArch)
	}
	files, err := p.host.Files().List(ctx, sdk.FileQuery{FileType: sdk.FileFirmware})
	if err != nil {
		return nil, err
	}
	var (
		urls, names, missing []string
	)
	for _, pkg := range append([]string{"routeros", "tr069-client"}, opts.Packages...) {
		f, ok := packageFor(files, pkg, ver, arch)
		if !ok {
			missing = append(missing, fmt.Sprintf("%s-%s-%s.npk", pkg, ver, arch))
			continue
		}
		u, err := p.host.Files().URL(ctx, f.ID, p.ttl)
		if err != nil {
			return nil, fmt.Errorf("firmware: signing a URL for %s: %w", f.Name, err)
		}
		urls, names = append(urls, u), append(names, f.Name)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("firmware: the file store lacks %s (store them with file type %q)", strings.Join(missing, ", "), sdk.FileFirmware)
	}
	dev := s.Device()
	doc := Descriptor(urls)
	name := fmt.Sprintf("mikrotik-upgrade-%s-%s-%s-%s.xml", safeName(ver), safeName(arch), safeName(dev.SerialNumber), shortHash(doc))
	f, err := p.host.Files().Put(ctx, sdk.FileInfo{Name: name, FileType: sdk.FileFirmware, ContentType: "application/xml",
		DeviceID: dev.ID, Version: ver, OUI: dev.OUI, ProductClass: dev.ProductClass}, doc)
	if err != nil {
		return nil, fmt.Errorf("firmware: storing the descriptor: %w", err)
	}
	t, err := p.download(ctx, s, f, sdk.FileFirmware, "upgrade.xml")
	if err != nil {
		return nil, err
	}
	t.Packages = names
	if err := p.expect(ctx, dev.ID, expectation{Kind: "firmware", Version: ver, CommandKey: t.CommandKey, At: s.Start()}); err != nil {
		s.Logger().Warn("could not note the upgrade", "err", err)
	}
	return t, nil
}
