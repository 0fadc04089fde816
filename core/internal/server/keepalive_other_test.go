//go:build !unix

package server

import (
	"errors"
	"net"
)

func keepAliveOn(*net.TCPConn) (bool, error) {
	return false, errors.New("keep-alive state not readable on this platform")
}
