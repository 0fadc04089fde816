package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// The examples of RFC 7616 §3.9.1 (the same request with MD5 and
// SHA-256).
func TestDigestRFC7616Examples(t *testing.T) {
	d := digestRequest{
		username: "Mufasa", realm: "http-auth@example.org", uri: "/dir/index.html",
		nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", qop: "auth", nc: "00000001",
		cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
	}
	for alg, want := range map[string]string{
		"MD5":     "8ca523f5e9506fed4657c9700eebdbec",
		"SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
	} {
		d.algorithm = alg
		ha1 := digestAlgOf(alg).hex("Mufasa", d.realm, "Circle of Life")
		got, ok := d.expected(ha1, "GET")
		if !ok || got != want {
			t.Errorf("%s: %s, want %s", alg, got, want)
		}
		d.response = want
		if !d.verify(ha1, "GET") || d.verify(ha1, "POST") {
			t.Errorf("%s: verify", alg)
		}
	}
}

func TestNonces(t *testing.T) {
	n := newNonces(time.Minute, 4)
	now := time.Now()
	a, b := n.issue(now), n.issue(now)
	if a == b || len(a) != nonceLen {
		t.Fatalf("nonces %q %q", a, b)
	}
	if at, ok := n.issued(a); !ok || !at.Equal(time.Unix(0, now.UnixNano())) {
		t.Fatalf("issued %v %v", at, ok)
	}
	tampered := []byte(a)
	tampered[3] ^= 1
	for _, bad := range []string{string(tampered), a[:nonceLen-2], "zz" + a[2:], newNonces(time.Minute, 4).issue(now)} {
		if _, ok := n.issued(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
	steps := []struct {
		nc   uint64
		qop  bool
		want bool
	}{{1, true, true}, {1, true, false}, {3, true, true}, {2, true, false}, {4, true, true}}
	for i, s := range steps {
		if got := n.use(a, s.nc, s.qop, now, now); got != s.want {
			t.Fatalf("step %d: %v", i, got)
		}
	}
	if !n.use(b, 0, false, now, now) || n.use(b, 0, false, now, now) {
		t.Fatal("a nonce without qop is good exactly once")
	}
}

func TestTableBound(t *testing.T) {
	tab := newTable(100, func(v *int, now time.Time) bool { return *v == 0 })
	now := time.Now()
	for i := range 1000 {
		tab.do(strconv.Itoa(i), now, true, func(v *int) { *v = i % 2 })
		if tab.len() > 100 {
			t.Fatalf("%d entries", tab.len())
		}
	}
	if tab.evictions == 0 {
		t.Fatal("never had to drop live entries")
	}
	if tab.do("absent", now, false, func(*int) {}) {
		t.Fatal("created without create")
	}
}

func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(2, 3, 10)
	now := time.Now()
	for i := range 3 {
		if ok, _ := l.allow("a", now); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := l.allow("a", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("beyond the burst: %v %v", ok, wait)
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := l.allow("a", now.Add(600*time.Millisecond)); !ok {
		t.Fatal("no refill")
	}
}

func TestFailures(t *testing.T) {
	f := newFailures(time.Second, 8*time.Second, 10)
	now := time.Now()
	var got []time.Duration
	for range 6 {
		got = append(got, f.fail("k", 3, now))
	}
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("back-offs %v, want %v", got, want)
		}
	}
	if d := f.fail("k", 3, now); d != 8*time.Second {
		t.Fatalf("cap: %v", d)
	}
	if _, blocked := f.blocked("k", now.Add(7*time.Second)); !blocked {
		t.Fatal("not blocked")
	}
	if _, blocked := f.blocked("k", now.Add(9*time.Second)); blocked {
		t.Fatal("still blocked")
	}
	// Failures long ago are forgotten.
	if d := f.fail("k", 3, now.Add(time.Hour)); d != 0 {
		t.Fatalf("old failures counted: %v", d)
	}
	f.reset("k")
	if _, blocked := f.blocked("k", now); blocked {
		t.Fatal("reset did not forgive")
	}
}

func TestClientOf(t *testing.T) {
	trusted, _ := ParsePrefixes("10.0.0.0/8, fd00::/8")
	cases := []struct {
		name   string
		peer   string
		header http.Header
		want   string
		proto  string
	}{
		{"direct", "192.0.2.1:5000", nil, "192.0.2.1", ""},
		{"untrusted peer's header ignored", "192.0.2.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "192.0.2.1", ""},
		{"one proxy", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1", ""},
		{"right-most untrusted", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9, 198.51.100.1, 10.0.0.2"}}, "198.51.100.1", ""},
		{"several header lines", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"203.0.113.9", "198.51.100.1"}}, "198.51.100.1", ""},
		{"all trusted: left-most", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"10.1.1.1, 10.0.0.2"}}, "10.1.1.1", ""},
		{"unreadable hop: the proxy", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1, bogus"}}, "10.0.0.1", ""},
		{"port and proto", "10.0.0.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1:6000"}, "X-Forwarded-Proto": {"HTTPS"}}, "198.51.100.1", "https"},
		{"Forwarded", "[fd00::1]:443", http.Header{"Forwarded": {`for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711";proto=https`}}, "2001:db8:cafe::17", "https"},
		{"Forwarded wins", "10.0.0.1:5000", http.Header{"Forwarded": {"for=192.0.2.60"}, "X-Forwarded-For": {"198.51.100.1"}}, "192.0.2.60", ""},
		{"Forwarded unknown", "10.0.0.1:5000", http.Header{"Forwarded": {"for=unknown"}}, "10.0.0.1", ""},
		{"mapped IPv4 peer", "[::ffff:10.0.0.1]:5000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: c.peer, Header: c.header}
			if r.Header == nil {
				r.Header = http.Header{}
			}
			got := clientOf(r, trusted)
			if got.addr.String() != c.want || got.proto != c.proto {
				t.Fatalf("%v %q, want %s %q", got.addr, got.proto, c.want, c.proto)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	ps, err := ParsePrefixes("10.1.2.3/8, 192.0.2.7 2001:db8::/32\t::ffff:198.51.100.0/120")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.0/24"}
	for i, p := range ps {
		if p.String() != want[i] {
			t.Fatalf("%v", ps)
		}
	}
	for _, a := range []string{"10.9.9.9", "::ffff:10.9.9.9", "2001:db8::1", "198.51.100.200"} {
		if !contains(ps, netip.MustParseAddr(a)) {
			t.Errorf("%s not contained", a)
		}
	}
	if _, err := ParsePrefixes("10.0.0.0/33"); err == nil {
		t.Fatal("bad CIDR accepted")
	}
	if got := addrKey(netip.MustParseAddr("2001:db8::1:2:3:4")); got != "2001:db8::/64" {
		t.Fatalf("v6 key %s", got)
	}
}

func TestCertMatches(t *testing.T) {
	u, _ := url.Parse("urn:dev:00D0B7-HomeGW-SN1")
	c := &x509.Certificate{Subject: pkix.Name{CommonName: "sn1", SerialNumber: "00D0B7-HomeGW-SN1"}, DNSNames: []string{"other"}, URIs: []*url.URL{u}}
	cases := []struct {
		field string
		want  bool
	}{{IdentityCN, true}, {IdentitySerialNumber, true}, {IdentityDNS, false}, {IdentityURI, false}}
	for _, k := range cases {
		if got := certMatches(c, k.field, "00D0B7-HomeGW-SN1", "SN1"); got != k.want {
			t.Errorf("%s: %v", k.field, got)
		}
	}
}

func TestURIMatches(t *testing.T) {
	r := &http.Request{RequestURI: "/cwmp?x=1", URL: &url.URL{Path: "/cwmp", RawQuery: "x=1"}}
	for uri, want := range map[string]bool{
		"/cwmp?x=1": true, "http://acs.example:7547/cwmp?x=1": true, "/cwmp": false, "/other": false, "%zz": false,
	} {
		if got := uriMatches(uri, r); got != want {
			t.Errorf("%q: %v", uri, got)
		}
	}
}
