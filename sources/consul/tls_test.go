package consul_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/consul"
)

// The source reaches Consul's HTTPS API with the CA given as a file (a
// startup file's tls-ca-file) and refuses a server its roots do not vouch
// for.
func TestTLS(t *testing.T) {
	srv := harness.Consul(t, harness.WithTLS())
	ctx := ctxT(t)
	p := datasource.Params{"address": srv.HTTPSAddr, "tls-ca-file": srv.TLS.CAFile, "key": "sentinel/tls-flow-rules"}
	src, err := datasource.Backends{consul.Backend()}.Open(ctx, "consul", p)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w, err := src.Write(ctx, []byte("[]"), "")
	if err != nil {
		t.Fatalf("write over TLS: %v", err)
	}
	if got, err := src.Read(ctx); err != nil || got.Revision != w.Revision {
		t.Fatalf("read over TLS: %+v %v", got, err)
	}

	// An empty pool trusts nothing; the plain-HTTP port is no TLS server.
	for _, tc := range []struct {
		cfg  consul.Config
		want func(error) bool
	}{
		{consul.Config{Address: srv.HTTPSAddr, TLS: &tls.Config{RootCAs: x509.NewCertPool()}},
			func(err error) bool { var u x509.UnknownAuthorityError; return errors.As(err, &u) }},
		{consul.Config{Address: srv.Addr, Scheme: "https", TLSFiles: datasource.TLSFiles{CAFile: srv.TLS.CAFile}},
			func(err error) bool {
				return err != nil && strings.Contains(err.Error(), "HTTP response to HTTPS client")
			}},
	} {
		s, err := consul.Dial(ctx, tc.cfg, "sentinel/tls-flow-rules")
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Read(ctx)
		s.Close()
		if !tc.want(err) {
			t.Fatalf("%v: read %v, want a TLS failure", tc.cfg, err)
		}
		t.Log(err)
	}
}
