// Command provisor-plugin-mikrotik is Provisor's plugin for MikroTik
// RouterOS devices. The ACS starts it; run by hand it prints the RouterOS
// commands that point a factory-fresh router at the ACS:
//
//	provisor-plugin-mikrotik onboard -acs-url https://acs.example.net:7547/cwmp -ca ca.pem
package main

import (
	"fmt"
	"os"

	"github.com/provisor/provisor/sdk"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "onboard" {
		if err := onboardCmd(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "onboard:", err)
			os.Exit(2)
		}
		return
	}
	sdk.Serve(New().ServeOpts())
}
