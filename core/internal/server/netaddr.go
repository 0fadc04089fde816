package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
)

// ParsePrefixes parses a list of CIDRs or single addresses separated by
// commas or white space ("10.0.0.0/8, 2001:db8::/32 192.0.2.7"). Addresses
// are normalised, so "10.1.2.3/8" means 10.0.0.0/8.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	return ParsePrefixList(strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }))
}

// ParsePrefixList parses CIDRs or single addresses, one per item.
func ParsePrefixList(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		if !strings.Contains(it, "/") {
			a, err := netip.ParseAddr(it)
			if err != nil {
				return nil, fmt.Errorf("%q is neither an address nor a CIDR", it)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(it)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR: %v", it, err)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// contains reports whether a is in one of the prefixes. IPv4 addresses
// arriving on a dual-stack socket as ::ffff:a.b.c.d match IPv4 prefixes.
func contains(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func addrOf(na net.Addr) netip.Addr {
	if ta, ok := na.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(na.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// client is where a request comes from.
type client struct {
	addr netip.Addr // the CPE, after trusted-proxy handling
	peer netip.Addr // the TCP peer
	// proxied is set when a trusted proxy named the client; proto is the
	// scheme it says the client used ("https", "http" or "").
	proxied bool
	proto   string
}

// clientOf resolves the client of a request. Forwarding headers are
// believed only from trusted proxies, and then only up to the right-most
// address that is not itself a trusted proxy: everything left of it was
// written by a party nobody vouches for.
func clientOf(r *http.Request, trusted []netip.Prefix) client {
	c := client{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.peer = ap.Addr().Unmap()
	} else if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		c.peer = a.Unmap()
	}
	c.addr = c.peer
	if len(trusted) == 0 || !contains(trusted, c.peer) {
		return c
	}
	hops, protos := forwardedHops(r.Header)
	if len(hops) == 0 {
		return c
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			// An unreadable hop breaks the chain of trust: the proxy
			// itself is the last address known to be right.
			return c
		}
		if !contains(trusted, a) || i == 0 {
			c.addr, c.proxied = a, true
			if i < len(protos) {
				c.proto = strings.ToLower(protos[i])
			}
			if c.proto == "" && len(protos) > 0 {
				c.proto = strings.ToLower(protos[len(protos)-1])
			}
			return c
		}
	}
	return c
}

// forwardedHops lists the client addresses of the forwarding headers,
// oldest first, with the scheme of each hop where known. RFC 7239
// Forwarded wins over X-Forwarded-For when both are present.
func forwardedHops(h http.Header) (hops, protos []string) {
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		for _, line := range fw {
			for elem := range strings.SplitSeq(line, ",") {
				var hop, proto string
				for pair := range strings.SplitSeq(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if !ok {
						continue
					}
					v = strings.Trim(strings.TrimSpace(v), `"`)
					switch strings.ToLower(strings.TrimSpace(k)) {
					case "for":
						hop = v
					case "proto":
						proto = v
					}
				}
				if hop != "" {
					hops = append(hops, hop)
					protos = append(protos, proto)
				}
			}
		}
		return hops, protos
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for hop := range strings.SplitSeq(line, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	// X-Forwarded-Proto describes the hop to the proxy nearest to us.
	if xp := h.Values("X-Forwarded-Proto"); len(xp) > 0 && len(hops) > 0 {
		parts := strings.Split(xp[len(xp)-1], ",")
		protos = make([]string, len(hops))
		protos[len(hops)-1] = strings.TrimSpace(parts[len(parts)-1])
	}
	return hops, protos
}

// parseHop reads one forwarded address: "192.0.2.1", "192.0.2.1:4711",
// "[2001:db8::1]:4711", "2001:db8::1". Obfuscated ("_hidden") and
// "unknown" hops do not parse.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// filterListener closes connections from addresses outside the allow-list
// as soon as they are accepted, before any TLS handshake or request
// parsing costs anything. Trusted proxies pass; the addresses they forward
// for are checked per request.
type filterListener struct {
	net.Listener
	allow, trusted []netip.Prefix
	denied         *atomic.Int64
	onDeny         func(a netip.Addr)
}

func (l *filterListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a := addrOf(c.RemoteAddr())
		if contains(l.allow, a) || contains(l.trusted, a) {
			return c, nil
		}
		// Counted before the close: whoever sees the connection drop
		// also sees the count.
		l.denied.Add(1)
		if l.onDeny != nil {
			l.onDeny(a)
		}
		_ = c.Close()
	}
}
