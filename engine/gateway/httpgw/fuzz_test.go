package httpgw

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
)

// FuzzQueryValue checks the allocation-free query scan against url.ParseQuery
// wherever the latter accepts the whole query.
func FuzzQueryValue(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=%31&a=2", "u%69d=x+y", "=&&a", "a=%zz&a=1", "a;b=1&a=2"} {
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		got := queryValue(raw, name)
		vals, err := url.ParseQuery(raw)
		if err != nil {
			return // ParseQuery gives up on the whole query; the scan skips bad pairs
		}
		if want := vals.Get(name); got != want {
			t.Errorf("queryValue(%q, %q) = %q, url.ParseQuery says %q", raw, name, got, want)
		}
	})
}

// FuzzClientIP checks that any forwarding header yields either the peer or a
// valid address, and never panics.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1234", "1.2.3.4, 10.0.0.2")
	f.Add("[::1]:80", "[2001:db8::1]:443,,x")
	f.Add("garbage", "")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		m := &Middleware{cfg: config{proxyHeader: "X-Forwarded-For", trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := m.ClientIP(r)
		if got == hostOnly(remote) {
			return
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Errorf("ClientIP(%q, %q) = %q: neither the peer nor an address", remote, xff, got)
		}
	})
}

// FuzzHostOnly checks the fast split of a peer address against
// net.SplitHostPort.
func FuzzHostOnly(f *testing.F) {
	for _, s := range []string{"192.0.2.1:80", "[::1]:80", "::1", "host:", ":80", "a:b:c", "[a]:b:c", "]:1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, remote string) {
		want := remote
		if h, _, err := net.SplitHostPort(remote); err == nil {
			want = h
		}
		if got := hostOnly(remote); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", remote, got, want)
		}
	})
}
