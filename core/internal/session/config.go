package session

import (
	"fmt"
	"strings"
	"time"

	"github.com/provisor/provisor/core/cwmp"
	"github.com/provisor/provisor/core/internal/soap"
)

// Config tunes the session engine. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// ExchangeTimeout bounds the wait for the CPE's next POST.
	ExchangeTimeout time.Duration
	// SessionTimeout bounds a whole session.
	SessionTimeout time.Duration
	// SupersedeWait is how long a second Inform from a device waits for
	// the device's live session to end before it is refused with 503.
	SupersedeWait time.Duration
	// GPVBatchSize is how many names one GetParameterValues asks for when
	// the device is discovered.
	GPVBatchSize int
	// Limits bound each message read from a CPE.
	Limits soap.Limits
	// Profiles adjust the engine per kind of device; the first match wins.
	Profiles []Profile
	// MaxSessions caps the live sessions; an Inform beyond it gets 503
	// with RetryAfter. 0 means no cap.
	MaxSessions int
	RetryAfter  time.Duration
}

// DefaultConfig holds the defaults.
var DefaultConfig = Config{
	ExchangeTimeout: 30 * time.Second,
	SessionTimeout:  10 * time.Minute,
	SupersedeWait:   2 * time.Second,
	GPVBatchSize:    32,
	RetryAfter:      60 * time.Second,
}

func (c Config) withDefaults() Config {
	d := DefaultConfig
	if c.ExchangeTimeout <= 0 {
		c.ExchangeTimeout = d.ExchangeTimeout
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = d.SessionTimeout
	}
	if c.SupersedeWait <= 0 {
		c.SupersedeWait = d.SupersedeWait
	}
	if c.GPVBatchSize <= 0 {
		c.GPVBatchSize = d.GPVBatchSize
	}
	if c.RetryAfter < time.Second {
		c.RetryAfter = d.RetryAfter
	}
	return c
}

// Profile holds the quirk switches for the devices it matches.
type Profile struct {
	Name string `yaml:"name"`
	// Match fields are compared case-insensitively; empty fields match
	// anything.
	Manufacturer string `yaml:"manufacturer"`
	OUI          string `yaml:"oui"`
	ProductClass string `yaml:"product_class"`

	// Encoding knobs of the messages sent to the device.
	NumericBooleans  bool `yaml:"numeric_booleans"`
	NumericNextLevel bool `yaml:"numeric_next_level"`
	DateTimeMillis   bool `yaml:"datetime_millis"`
	// EmptyBodyTermination ends sessions the pre-Amendment-1 way: an empty
	// 200 response, the CPE's empty POST, then an empty response again.
	EmptyBodyTermination bool `yaml:"empty_body_termination"`
	// ExchangeTimeout overrides the engine's for these devices.
	ExchangeTimeout time.Duration `yaml:"exchange_timeout"`
	// GPVBatchSize overrides the engine's for these devices.
	GPVBatchSize int `yaml:"gpv_batch_size"`
	// MaxCWMPVersion caps the protocol version used with these devices
	// ("1.0"): a CPE that offers more in SupportedCWMPVersions is told to
	// use the highest offered version up to the cap, and handlers see the
	// capped version. Empty means no cap.
	MaxCWMPVersion string `yaml:"max_cwmp_version"`
	// TransferEndsSession lists the file types ("1 Firmware Upgrade
	// Image"; "*" for every one) that these devices apply as soon as they
	// accept a Download or Upload of them, typically rebooting. Once the
	// device has answered such a transfer the ACS sends it nothing more and
	// ends the session cleanly; work left over waits for the next session.
	TransferEndsSession []string `yaml:"transfer_ends_session"`

	// Auth overrides the server's authentication mode for these devices:
	// "digest", "basic", "any", "none" (for CPEs that never send
	// credentials) or "allow-list" (admitted by source address alone, from
	// AllowFrom). Empty keeps the server's mode.
	Auth string `yaml:"auth"`
	// AllowFrom lists the CIDRs an "allow-list" profile admits.
	AllowFrom []string `yaml:"allow_from"`
}

// CheckVersion reports whether MaxCWMPVersion reads as a version.
func (p *Profile) CheckVersion() error {
	_, _, err := p.maxVersion()
	return err
}

// maxVersion parses MaxCWMPVersion; ok is false when there is no cap.
func (p *Profile) maxVersion() (v cwmp.Version, ok bool, err error) {
	if strings.TrimSpace(p.MaxCWMPVersion) == "" {
		return v, false, nil
	}
	text := strings.TrimSpace(p.MaxCWMPVersion)
	if !strings.Contains(text, ".") {
		text += ".0" // an unquoted YAML 1.0 arrives as the number 1
	}
	v, ok = cwmp.ParseVersion(text)
	if !ok {
		return v, false, fmt.Errorf("max_cwmp_version %q: want a version such as 1.0", p.MaxCWMPVersion)
	}
	return v, true, nil
}

// endsSession reports whether the device applies a transfer of the file
// type at once, so that the session must end after it.
func (p *Profile) endsSession(fileType string) bool {
	for _, t := range p.TransferEndsSession {
		if t == "*" || strings.EqualFold(strings.TrimSpace(t), strings.TrimSpace(fileType)) {
			return true
		}
	}
	return false
}

func (p *Profile) matches(id cwmp.DeviceID) bool {
	eq := func(want, got string) bool { return want == "" || strings.EqualFold(want, got) }
	return eq(p.Manufacturer, id.Manufacturer) && eq(p.OUI, id.OUI) && eq(p.ProductClass, id.ProductClass)
}

func (c *Config) profileFor(id cwmp.DeviceID) Profile {
	for _, p := range c.Profiles {
		if p.matches(id) {
			return p
		}
	}
	return Profile{}
}
