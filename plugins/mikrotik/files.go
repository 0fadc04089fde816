package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/provisor/provisor/sdk"
)

// fileTypes declares the file types RouterOS uses and names what routers
// upload after what is in them.
type fileTypes struct{}

func (fileTypes) FileTypes() []sdk.FileType {
	return []sdk.FileType{
		{Name: fileFactoryConfig, Download: true, Upload: true, Extension: ".rsc", ContentType: "text/plain",
			Description: "the script /system reset-configuration applies"},
		{Name: sdk.FileUploadVendorConfig, Upload: true, Extension: ".rsc", ContentType: "text/plain",
			Description: "RouterOS /export of the running configuration"},
		{Name: sdk.FileUploadVendorLog, Upload: true, Extension: ".log", ContentType: "text/plain",
			Description: "RouterOS /log print"},
	}
}

// exportHeader matches the comment lines an /export starts with:
//
//	# 2024-05-02 10:11:12 by RouterOS 7.14.2
//	# software id = ABCD-1234
//	# model = RB952Ui-5ac2nD
//	# serial number = 7DCF08DC745D
var exportHeader = regexp.MustCompile(`^#\s*(?:(\S+ \S+) by RouterOS (\S+)|software id = (\S+)|model = (.+)|serial number = (\S+))\s*$`)

// ParseExport reads the header of a RouterOS /export.
func ParseExport(head []byte) (meta map[string]string, ok bool) {
	meta = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(head))
	for i := 0; i < 12 && sc.Scan(); i++ {
		m := exportHeader.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		switch {
		case m == nil:
		case m[2] != "":
			meta["exported"], meta["routeros"] = m[1], m[2]
		case m[3] != "":
			meta["softwareId"] = m[3]
		case m[4] != "":
			meta["model"] = strings.TrimSpace(m[4])
		case m[5] != "":
			meta["serial"] = m[5]
		}
	}
	return meta, meta["routeros"] != ""
}

func (fileTypes) HandleUpload(ctx context.Context, f sdk.UploadedFile) (sdk.UploadResult, error) {
	serial := safeName(f.Device.SerialNumber)
	if serial == "" {
		serial = "unknown"
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	switch f.FileType {
	case sdk.FileUploadVendorConfig:
		meta, ok := ParseExport(f.Head)
		if !ok {
			return sdk.UploadResult{}, fmt.Errorf("not a RouterOS /export: no \"by RouterOS\" header")
		}
		return sdk.UploadResult{Name: fmt.Sprintf("%s-%s.rsc", serial, stamp), Metadata: meta}, nil
	case sdk.FileUploadVendorLog:
		return sdk.UploadResult{Name: fmt.Sprintf("%s-%s.log", serial, stamp)}, nil
	case fileFactoryConfig:
		return sdk.UploadResult{Name: fmt.Sprintf("%s-%s-defconf.rsc", serial, stamp)}, nil
	}
	return sdk.UploadResult{}, nil
}
