package datasource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// A source package's Config describes its parameters once, in struct tags,
// and ParamsOf, DecodeParams and DescribeParams read them:
//
//	type Config struct {
//		Endpoints []string `param:"endpoints,required" env:"ETCD_ENDPOINTS" usage:"etcd endpoints, comma-separated"`
//		Password  string   `param:"password,secret" usage:"password of the etcd user"`
//		TLSFiles  datasource.TLSFiles `param:",inline"`
//	}
//
// The tag's first part is the parameter name; "required" and "secret" mark
// the Param. A struct field tagged ",inline" (or embedded) contributes its
// own tagged fields. Fields without a param tag are not parameters.

// ParamsOf lists the parameters that the param tags of cfg's struct type
// describe, in field order.
func ParamsOf(cfg any) []Param {
	var out []Param
	walkParams(reflect.TypeOf(cfg), func(f reflect.StructField, name string, opts tagOpts, _ []int) {
		out = append(out, Param{
			Name: name, Usage: f.Tag.Get("usage"), Required: opts.required, Secret: opts.secret,
			Env: f.Tag.Get("env"), Default: f.Tag.Get("default"), Kind: kindOf(f.Type),
		})
	})
	return out
}

// DecodeParams sets the tagged fields of the struct dst points to from p.
// Supported field types: string, []string (comma-separated, blanks
// dropped), bool, the integer types, float64 and time.Duration ("1.5s";
// a bare number is milliseconds). A field whose parameter is absent keeps
// its value, so set defaults before calling. The error wraps ErrBadParams
// and names every parameter that could not be read (never its value when it
// is a secret).
func DecodeParams(p Params, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("datasource: DecodeParams needs a pointer to a struct, got %T", dst)
	}
	var problems []string
	walkParams(rv.Elem().Type(), func(f reflect.StructField, name string, opts tagOpts, index []int) {
		raw, ok := p[name]
		if !ok {
			return
		}
		if err := setParam(rv.Elem().FieldByIndex(index), raw); err != nil {
			shown := fmt.Sprintf("%q", raw)
			if opts.secret {
				shown = "(secret)"
			}
			problems = append(problems, fmt.Sprintf("%s=%s: %v", name, shown, err))
		}
	})
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrBadParams, strings.Join(problems, "; "))
	}
	return nil
}

// DescribeParams formats cfg (a struct with param tags) as
// name{key=value ...}, listing the parameters that are set and showing
// secrets as REDACTED: for a Config's String and LogValue.
func DescribeParams(name string, cfg any) string {
	rv := reflect.ValueOf(cfg)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return name + "{}"
		}
		rv = rv.Elem()
	}
	var parts []string
	walkParams(rv.Type(), func(_ reflect.StructField, pname string, opts tagOpts, index []int) {
		v := rv.FieldByIndex(index)
		if v.IsZero() {
			return
		}
		shown := formatParam(v)
		if opts.secret {
			shown = "REDACTED"
		}
		parts = append(parts, pname+"="+shown)
	})
	return name + "{" + strings.Join(parts, " ") + "}"
}

type tagOpts struct{ required, secret, inline bool }

func parseTag(tag string) (name string, o tagOpts) {
	parts := strings.Split(tag, ",")
	for _, p := range parts[1:] {
		switch strings.TrimSpace(p) {
		case "required":
			o.required = true
		case "secret":
			o.secret = true
		case "inline":
			o.inline = true
		}
	}
	return strings.TrimSpace(parts[0]), o
}

var durationType = reflect.TypeFor[time.Duration]()

func walkParams(t reflect.Type, fn func(f reflect.StructField, name string, o tagOpts, index []int)) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return
	}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			index := append(append([]int(nil), prefix...), i)
			tag, tagged := f.Tag.Lookup("param")
			name, o := parseTag(tag)
			if f.Type.Kind() == reflect.Struct && f.Type != durationType && (o.inline || f.Anonymous && name == "") {
				walk(f.Type, index)
				continue
			}
			if !tagged || name == "" || name == "-" || !f.IsExported() {
				continue
			}
			fn(f, name, o, index)
		}
	}
	walk(t, nil)
}

func kindOf(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list"
	}
	return "string"
}

func setParam(v reflect.Value, raw string) error {
	s := strings.TrimSpace(raw)
	if v.Type() == durationType {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			v.SetInt(int64(time.Duration(n) * time.Millisecond))
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("not a duration (e.g. 1.5s, 200ms)")
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("not a boolean (true or false)")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return errors.New("not an integer in range")
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return errors.New("not a non-negative integer in range")
		}
		v.SetUint(n)
	case reflect.Float64, reflect.Float32:
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			return errors.New("not a number")
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported parameter type %s", v.Type())
		}
		var items []string
		for _, it := range strings.Split(raw, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		v.Set(reflect.ValueOf(items).Convert(v.Type()))
	default:
		return fmt.Errorf("unsupported parameter type %s", v.Type())
	}
	return nil
}

func formatParam(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	if v.Kind() == reflect.String {
		return strconv.Quote(v.String())
	}
	return fmt.Sprint(v.Interface())
}

// TLSFiles are the TLS settings a startup file or a command line can give a
// source, as file paths. Sources embed it in their Config (tagged ",inline")
// next to a *tls.Config field for programs that build their own.
type TLSFiles struct {
	TLS                bool   `param:"tls" usage:"connect with TLS (implied by the other tls- parameters)"`
	CAFile             string `param:"tls-ca-file" usage:"PEM file of the CA certificates that sign the server's certificate (default: the system's)"`
	CertFile           string `param:"tls-cert-file" usage:"PEM file of the client certificate, for mutual TLS"`
	KeyFile            string `param:"tls-key-file" usage:"PEM file of the client certificate's key"`
	ServerName         string `param:"tls-server-name" usage:"server name to verify the certificate against (default: the host dialed)"`
	InsecureSkipVerify bool   `param:"tls-insecure-skip-verify" usage:"accept any server certificate (tests only)"`
}

// Config returns the *tls.Config the settings describe, or nil when none is
// set (a plain connection).
func (f TLSFiles) Config() (*tls.Config, error) {
	if f == (TLSFiles{}) {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: f.ServerName, InsecureSkipVerify: f.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls-ca-file %s: no PEM certificate in it", f.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("tls-cert-file and tls-key-file go together")
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls-cert-file/tls-key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// TypedOpen returns a Backend.Open that decodes its parameters into a P
// (a struct with param tags, starting from defaults, see DecodeParams) and
// opens the source from that: the parameters are checked once, by type, and
// an error names the backend. Pair it with Params: ParamsOf(P{}).
func TypedOpen[P any](name string, defaults P, open func(ctx context.Context, p P) (WritableSource, error)) func(context.Context, Params) (WritableSource, error) {
	return func(ctx context.Context, p Params) (WritableSource, error) {
		v := defaults
		if err := DecodeParams(p, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return open(ctx, v)
	}
}

// DataIDAt returns a Backend.DataID that names a payload by setting
// parameter param to the value of parameter prefix (none when prefix is "")
// followed by the data id: DataIDAt("key", "key-prefix") gives etcd's key
// "/sentinel/" + "myapp-flow-rules".
func DataIDAt(param, prefix string) func(Params, string) Params {
	return func(p Params, dataID string) Params {
		q := p.Clone()
		if prefix != "" {
			dataID = q[prefix] + dataID
		}
		q[param] = dataID
		return q
	}
}
