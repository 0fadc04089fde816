package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/hook"
)

// ManifestName is the file that describes a plugin, one per plugin
// directory: <plugins dir>/<id>/plugin.json.
const ManifestName = "plugin.json"

// Manifest is a plugin's plugin.json.
type Manifest struct {
	// ID names the plugin; it must equal what the plugin reports.
	ID          string `json:"id"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Protocol is the major version of provisor.plugin the plugin speaks.
	Protocol int `json:"protocol"`
	// Executable is the plugin binary, relative to the manifest's
	// directory.
	Executable string `json:"executable"`
	// SHA256 is the hex SHA-256 of the executable; the host refuses to
	// start a binary that does not match.
	SHA256 string `json:"sha256"`
	// Match selects the devices the plugin serves: any rule that matches
	// is enough; no rules means every device.
	Match []MatchRule `json:"match,omitempty"`
	// Events are the event codes whose sessions the plugin is called for,
	// "inform" for all. Empty means what the plugin itself reports.
	Events []string `json:"events,omitempty"`
	// Config is passed to the plugin at start; the ACS configuration can
	// override it.
	Config json.RawMessage `json:"config,omitempty"`

	// Dir is the directory the manifest was read from.
	Dir string `json:"-"`
}

// MatchRule matches a device when every field set matches, compared
// without regard to case; ProductClass may use shell patterns ("RB*").
type MatchRule struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	OUI          string `json:"oui,omitempty"`
	ProductClass string `json:"productClass,omitempty"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ReadManifest reads and checks dir/plugin.json.
func ReadManifest(dir string) (*Manifest, error) {
	file := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	m.Dir = dir
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &m, nil
}

func (m *Manifest) check() error {
	var errs []error
	if !idPattern.MatchString(m.ID) {
		errs = append(errs, fmt.Errorf("id %q: want lower case letters, digits and dashes", m.ID))
	}
	if m.Protocol <= 0 {
		errs = append(errs, errors.New("protocol: the major version of provisor.plugin is required"))
	}
	if m.Executable == "" || filepath.IsAbs(m.Executable) || strings.Contains(filepath.ToSlash(m.Executable), "../") {
		errs = append(errs, fmt.Errorf("executable %q: want a file inside the plugin's directory", m.Executable))
	}
	if m.SHA256 != "" {
		if b, err := hex.DecodeString(m.SHA256); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("sha256 %q: want 64 hex digits", m.SHA256))
		}
	}
	for _, r := range m.Match {
		if r == (MatchRule{}) {
			errs = append(errs, errors.New("match: an empty rule would match every device; leave match out instead"))
		}
		if _, err := path.Match(strings.ToLower(r.ProductClass), ""); err != nil {
			errs = append(errs, fmt.Errorf("match: productClass %q: %v", r.ProductClass, err))
		}
	}
	for _, e := range m.Events {
		if eventKey(e) == "" {
			errs = append(errs, fmt.Errorf("events: %q is no event code", e))
		}
	}
	if len(m.Config) > 0 && !json.Valid(m.Config) {
		errs = append(errs, errors.New("config: not JSON"))
	}
	return errors.Join(errs...)
}

// Path is the executable's full path.
func (m *Manifest) Path() string { return filepath.Join(m.Dir, m.Executable) }

// Checksum computes the executable's SHA-256.
func (m *Manifest) Checksum() (string, error) {
	f, err := os.Open(m.Path())
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Verify checks the executable against the manifest's checksum.
func (m *Manifest) Verify() error {
	if m.SHA256 == "" {
		return &RefusedError{Plugin: m.ID, Reason: "the manifest has no sha256; run `provisor plugin check -write-sums` after building the plugin"}
	}
	sum, err := m.Checksum()
	if err != nil {
		return &RefusedError{Plugin: m.ID, Reason: "executable unreadable", Err: err}
	}
	if !strings.EqualFold(sum, m.SHA256) {
		return &RefusedError{Plugin: m.ID, Reason: fmt.Sprintf("checksum mismatch: %s has sha256 %s, the manifest says %s", m.Path(), sum, strings.ToLower(m.SHA256)), Err: ErrChecksum}
	}
	return nil
}

// Matches reports whether the plugin serves the device.
func (m *Manifest) Matches(d hook.Device) bool {
	if len(m.Match) == 0 {
		return true
	}
	for _, r := range m.Match {
		if r.matches(d) {
			return true
		}
	}
	return false
}

func (r MatchRule) matches(d hook.Device) bool {
	if r.Manufacturer != "" && !strings.EqualFold(r.Manufacturer, d.Manufacturer) {
		return false
	}
	if r.OUI != "" && !strings.EqualFold(r.OUI, d.OUI) {
		return false
	}
	if r.ProductClass != "" {
		ok, _ := path.Match(strings.ToLower(r.ProductClass), strings.ToLower(d.ProductClass))
		if !ok {
			return false
		}
	}
	return true
}

// eventKey normalises event codes the way cwmp.ParseEvent compares them,
// so that the manifest's spelling and the device's need not agree.
func eventKey(code string) string {
	if strings.EqualFold(strings.TrimSpace(code), "inform") {
		return "inform"
	}
	info := cwmp.ParseEvent(code)
	switch info.Kind {
	case cwmp.EventStandard:
		return strings.ToUpper(strings.Join(strings.Fields(string(info.Code)), " "))
	case cwmp.EventMethod:
		if info.Method == "" {
			return ""
		}
		return "M " + strings.ToUpper(info.Method)
	case cwmp.EventVendor:
		return "X " + strings.ToUpper(info.Vendor) + " " + strings.Join(strings.Fields(info.Name), " ")
	}
	return ""
}

// Discover reads every <dir>/*/plugin.json, sorted by directory name. A
// broken manifest is reported and skipped; two manifests with one id are
// an error for the second.
func Discover(dir string) ([]*Manifest, []error) {
	// Executables are started from their own folder, so a relative
	// directory must be made absolute first or their paths would not
	// resolve.
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{err}
	}
	var (
		out  []*Manifest
		errs []error
		seen = map[string]string{}
	)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, ManifestName)); errors.Is(err, os.ErrNotExist) {
			continue
		}
		m, err := ReadManifest(sub)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := seen[m.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: plugin id %q is also used by %s", sub, m.ID, prev))
			continue
		}
		seen[m.ID] = sub
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Manifest) int { return strings.Compare(a.Dir, b.Dir) })
	return out, errs
}
