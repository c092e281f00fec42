package datasource_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rulesync/rulesync/datasource"
)

type testConfig struct {
	Addrs    []string            `param:"addr,required" env:"TEST_ADDR" usage:"addresses"`
	User     string              `param:"username"`
	Password string              `param:"password,secret"`
	Timeout  time.Duration       `param:"timeout"`
	Retries  int                 `param:"retries"`
	Ratio    float64             `param:"ratio"`
	Verbose  bool                `param:"verbose"`
	Internal string              // not a parameter
	TLSFiles datasource.TLSFiles `param:",inline"`
}

type testParams struct {
	testConfig `param:",inline"`
	Key        string `param:"key,required"`
}

func testBackend(opened *datasource.Params) datasource.Backend {
	return datasource.Backend{
		Name: "test", Params: datasource.ParamsOf(testParams{}), Primary: "addr",
		Open: func(_ context.Context, p datasource.Params) (datasource.WritableSource, error) {
			*opened = p
			return nil, errors.New("opened")
		},
	}
}

func TestParamsOf(t *testing.T) {
	ps := datasource.ParamsOf(testParams{})
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	want := "addr username password timeout retries ratio verbose tls tls-ca-file tls-cert-file tls-key-file tls-server-name tls-insecure-skip-verify key"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("params = %s\nwant     %s", got, want)
	}
	if !ps[0].Required || ps[0].Env != "TEST_ADDR" || ps[0].Usage != "addresses" || !ps[2].Secret || ps[1].Secret {
		t.Fatalf("tag options not read: %+v", ps[:3])
	}
}

func TestDecodeParams(t *testing.T) {
	var c testParams
	err := datasource.DecodeParams(datasource.Params{
		"addr": " a:1, ,b:2 ", "username": "u", "password": "pw", "timeout": "1.5s", "retries": "3",
		"ratio": "0.25", "verbose": "true", "key": "k", "tls-server-name": "srv",
	}, &c)
	if err != nil {
		t.Fatal(err)
	}
	want := testParams{testConfig: testConfig{Addrs: []string{"a:1", "b:2"}, User: "u", Password: "pw", Timeout: 1500 * time.Millisecond,
		Retries: 3, Ratio: 0.25, Verbose: true, TLSFiles: datasource.TLSFiles{ServerName: "srv"}}, Key: "k"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("decoded %+v\nwant    %+v", c, want)
	}
	if err := datasource.DecodeParams(datasource.Params{"timeout": "250"}, &c); err != nil || c.Timeout != 250*time.Millisecond {
		t.Fatalf("a bare number is milliseconds: %v %v", c.Timeout, err)
	}
	err = datasource.DecodeParams(datasource.Params{"retries": "many", "verbose": "yes please", "password": "x", "timeout": "soon"}, &c)
	if !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("err = %v, want ErrBadParams", err)
	}
	for _, part := range []string{`retries="many"`, `verbose="yes please"`, `timeout="soon"`} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %s", err, part)
		}
	}
	if err := datasource.DecodeParams(datasource.Params{}, c); err == nil {
		t.Error("a non-pointer destination was accepted")
	}
}

func TestDescribeParamsRedacts(t *testing.T) {
	c := testConfig{Addrs: []string{"a:1", "b:2"}, User: "u", Password: "hunter2", Timeout: time.Second}
	got := datasource.DescribeParams("test", c)
	if want := `test{addr=a:1,b:2 username="u" password=REDACTED timeout=1s}`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestResolve(t *testing.T) {
	var opened datasource.Params
	b := testBackend(&opened)
	env := map[string]string{"TEST_ADDR": "env:1", "PW": "from-env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	got, err := b.Resolve(datasource.Params{"key": "k", "password-env": "PW"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if want := (datasource.Params{"key": "k", "addr": "env:1", "password": "from-env"}); !reflect.DeepEqual(got, want) {
		t.Fatalf("resolved %v, want %v", got, want)
	}

	secretFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(secretFile, []byte(" from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = b.Resolve(datasource.Params{"key": "k", "addr": "x:1", "password-file": secretFile}, lookup)
	if err != nil || got["password"] != "from-file" || got["addr"] != "x:1" {
		t.Fatalf("password-file: %v %v", got, err)
	}

	_, err = b.Resolve(datasource.Params{"adr": "x", "password": "a", "password-env": "PW", "username-env": "U", "retries-file": "f"}, func(string) (string, bool) { return "", false })
	if !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("err = %v", err)
	}
	for _, part := range []string{`unknown parameter "adr" (did you mean "addr"?)`, `"password" and "password-env" both give password`,
		`unknown parameter "username-env"`, `unknown parameter "retries-file"`, `missing required parameter "addr"`, `missing required parameter "key"`} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error lacks %q:\n%v", part, err)
		}
	}
	if _, err := b.Resolve(datasource.Params{"addr": "x", "key": "k", "password-env": "NOPE"}, lookup); err == nil || !strings.Contains(err.Error(), "NOPE is not set") {
		t.Fatalf("missing secret variable: %v", err)
	}
	if _, err := b.Resolve(datasource.Params{"addr": "x", "key": "k", "password-file": "/no/such/file"}, lookup); err == nil || strings.Contains(err.Error(), "from-") {
		t.Fatalf("missing secret file: %v", err)
	}
}

// TestDiagnose: each problem names the parameter as given, and values are
// checked against their kinds before anything is opened.
func TestDiagnose(t *testing.T) {
	var opened datasource.Params
	b := testBackend(&opened)
	env := map[string]string{"PW": "not-shown"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, problems := b.Diagnose(datasource.Params{"adr": "x", "key": "k", "retries": "many", "timeout": "soon",
		"verbose": "yes", "ratio": "1/2", "password-env": "PW"}, lookup)
	var got []string
	for _, p := range problems {
		got = append(got, p.Param+" | "+p.Reason)
		if strings.Contains(p.Reason, "not-shown") || strings.Contains(p.String(), "not-shown") {
			t.Errorf("problem shows the secret: %v", p)
		}
	}
	want := []string{
		`adr | unknown parameter (did you mean "addr"?)`,
		`addr | missing required parameter (or environment variable TEST_ADDR)`,
		`timeout | "soon": not a duration (e.g. 1.5s, 200ms)`,
		`retries | "many": not an integer in range`,
		`ratio | "1/2": not a number`,
		`verbose | "yes": not a boolean (true or false)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !problems[1].Missing || problems[0].Missing {
		t.Errorf("Missing marks the wrong problems: %+v", problems[:2])
	}
	if rp, problems := b.Diagnose(datasource.Params{"addr": "a", "key": "k", "timeout": "250", "retries": " 3 "}, lookup); len(problems) > 0 || rp["timeout"] != "250" {
		t.Fatalf("good parameters: %v %v", rp, problems)
	}
}

func TestBackendsTable(t *testing.T) {
	var opened datasource.Params
	bs := datasource.Backends{testBackend(&opened)}
	if _, err := bs.Lookup("nope"); !errors.Is(err, datasource.ErrUnknownBackend) || !strings.Contains(err.Error(), "known: test") {
		t.Fatalf("unknown backend: %v", err)
	}
	if err := bs.Check("test", datasource.Params{"addr": "a"}); !errors.Is(err, datasource.ErrBadParams) {
		t.Fatalf("Check without key: %v", err)
	}
	if _, err := bs.Open(context.Background(), " TEST ", datasource.Params{"addr": "a", "key": "k"}); err == nil || err.Error() != "opened" {
		t.Fatalf("Open: %v", err)
	}
	if !reflect.DeepEqual(opened, datasource.Params{"addr": "a", "key": "k"}) {
		t.Fatalf("Open got %v", opened)
	}
	if got := bs.Names(); !reflect.DeepEqual(got, []string{"test"}) {
		t.Fatalf("Names = %v", got)
	}
}

func TestTLSFiles(t *testing.T) {
	if c, err := (datasource.TLSFiles{}).Config(); c != nil || err != nil {
		t.Fatalf("no settings: %v %v", c, err)
	}
	c, err := datasource.TLSFiles{TLS: true, ServerName: "s"}.Config()
	if err != nil || c == nil || c.ServerName != "s" {
		t.Fatalf("tls=true: %v %v", c, err)
	}
	if _, err := (datasource.TLSFiles{CertFile: "c.pem"}).Config(); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := (datasource.TLSFiles{CAFile: bad}).Config(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("bad CA file: %v", err)
	}
}

// FuzzParams feeds arbitrary parameters (pairs of key and value separated by
// NUL) through Resolve and DecodeParams: nothing panics, a bad value is an
// ErrBadParams error, and a secret never appears in an error.
func FuzzParams(f *testing.F) {
	f.Add([]byte("addr\x00a:1,b:2\x00key\x00k\x00timeout\x0015s"))
	f.Add([]byte("retries\x00-99999999999999999999\x00ratio\x00NaN\x00password\x00hunter2"))
	f.Add([]byte("password-env\x00X\x00adr\x00\x00tls-cert-file\x00/x"))
	f.Fuzz(func(t *testing.T, in []byte) {
		parts := strings.Split(string(in), "\x00")
		p := datasource.Params{}
		for i := 0; i+1 < len(parts); i += 2 {
			p[parts[i]] = parts[i+1]
		}
		var opened datasource.Params
		b := testBackend(&opened)
		rp, err := b.Resolve(p, func(string) (string, bool) { return "s3cret-from-env", true })
		if err != nil {
			if !errors.Is(err, datasource.ErrBadParams) {
				t.Fatalf("Resolve error does not wrap ErrBadParams: %v", err)
			}
			return
		}
		var c testParams
		err = datasource.DecodeParams(rp, &c)
		if err != nil && !errors.Is(err, datasource.ErrBadParams) {
			t.Fatalf("DecodeParams error does not wrap ErrBadParams: %v", err)
		}
		var others strings.Builder
		for k, v := range rp {
			if k != "password" {
				others.WriteString(k + "=" + v + " ")
			}
		}
		if pw := rp["password"]; err != nil && pw != "" && !strings.Contains(others.String(), pw) && strings.Contains(err.Error(), pw) {
			t.Fatalf("error shows the password: %v", err)
		}
		without := c.testConfig
		without.Password = ""
		if pw := c.Password; pw != "" && !strings.Contains(datasource.DescribeParams("t", without), pw) &&
			strings.Contains(datasource.DescribeParams("t", c.testConfig), pw) {
			t.Fatal("description shows the password")
		}
	})
}
