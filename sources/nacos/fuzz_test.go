package nacos_test

import (
	"strings"
	"testing"

	"github.com/rulesync/rulesync/sources/nacos"
)

// FuzzParseServer: any server-addr entry gives a server or an error naming
// the entry, never a panic, and a server has a host and ports in range.
func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8848", "nacos.local", "https://n:443/ctx/", "http://[::1]:8848", ":8848", "http://h:0", "h:65000", "ftp://h", "h:8848?x=1"} {
		f.Add(s, "/nacos", false)
	}
	f.Fuzz(func(t *testing.T, addr, contextPath string, tls bool) {
		sc, err := nacos.ParseServer(addr, contextPath, tls)
		if err != nil {
			if !strings.Contains(err.Error(), "server-addr") {
				t.Fatalf("error %q does not name the parameter", err)
			}
			return
		}
		if sc.IpAddr == "" || sc.Port == 0 || sc.GrpcPort != sc.Port+1000 || sc.GrpcPort > 65535 || !strings.HasPrefix(sc.ContextPath, "/") {
			t.Fatalf("%q -> %+v", addr, sc)
		}
		if tls && sc.Scheme != "https" {
			t.Fatalf("tls on, scheme %q", sc.Scheme)
		}
	})
}

// FuzzCasFailed: only the server's compare-and-set answer is a conflict.
func FuzzCasFailed(f *testing.F) {
	f.Add("Cas publish fail,server md5 may have changed.")
	f.Add("user not found!")
	f.Fuzz(func(t *testing.T, msg string) {
		if nacos.CasFailed(msg) && !strings.Contains(msg, "md5 may have changed") {
			t.Fatalf("%q taken for a compare-and-set failure", msg)
		}
	})
}
