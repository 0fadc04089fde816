package server_test

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/provisor/provisor/core/internal/server"
)

// BenchmarkTLSHandshake is the CPU of one CPE connection's TLS handshake
// on the endpoint's own configuration (server.NewTLS), client and server
// together, over loopback: a new TCP connection, the handshake, one byte
// (so that the client takes its session ticket), close. "resumed" uses
// session tickets, as the endpoint does by default; "full" is the same
// client against tls.session_tickets: false, the baseline. TLS 1.2 is
// what most CPEs speak; its resumption skips the key exchange, which TLS
// 1.3's (a PSK plus a fresh, post-quantum hybrid key share) does not.
func BenchmarkTLSHandshake(b *testing.B) {
	for _, v := range []struct {
		name    string
		version uint16
	}{{"tls1.2", tls.VersionTLS12}, {"tls1.3", tls.VersionTLS13}} {
		for _, key := range []string{"ecdsa-p256", "rsa-2048"} {
			for _, resume := range []bool{true, false} {
				mode := "full"
				if resume {
					mode = "resumed"
				}
				b.Run(v.name+"/"+key+"/"+mode, func(b *testing.B) { benchHandshake(b, v.version, key == "rsa-2048", resume) })
			}
		}
	}
}

func benchHandshake(b *testing.B, version uint16, rsaKey, resume bool) {
	pki := newPKI(b)
	cert, keyFile := pki.serverFiles("acs", rsaKey)
	t, err := server.NewTLS(server.TLSOptions{CertFile: cert, KeyFile: keyFile, DisableSessionTickets: !resume})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	tln := tls.NewListener(ln, t.Config)
	go func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err == nil {
					_, _ = c.Write([]byte{1})
				}
			}()
		}
	}()
	conf := pki.clientTLS()
	conf.MaxVersion = version
	resumed := 0
	one := make([]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		c, err := tls.Dial("tcp", ln.Addr().String(), conf)
		if err != nil {
			b.Fatal(err)
		}
		// TLS 1.2 may deliver the byte and the close_notify together.
		if n, err := c.Read(one); n != 1 {
			b.Fatal(err)
		}
		if c.ConnectionState().DidResume {
			resumed++
		}
		c.Close()
	}
	if resume && resumed == 0 {
		b.Fatal("no handshake resumed")
	}
	if !resume && resumed > 0 {
		b.Fatal("resumed with tickets off")
	}
}
