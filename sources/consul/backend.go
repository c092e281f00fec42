package consul

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/rulesync/rulesync/datasource"
)

// Config is what Dial needs to reach Consul. Its param tags name the
// parameters of Backend (a startup file's keys). A field left empty takes
// Consul's own default, as Consul's tools read it: CONSUL_HTTP_ADDR (else
// 127.0.0.1:8500), CONSUL_HTTP_SSL, CONSUL_HTTP_TOKEN or the file
// CONSUL_HTTP_TOKEN_FILE names, CONSUL_CACERT, CONSUL_CLIENT_CERT,
// CONSUL_CLIENT_KEY, CONSUL_TLS_SERVER_NAME, CONSUL_HTTP_SSL_VERIFY.
type Config struct {
	// Address is host:port of an agent's HTTP API; an "https://" prefix
	// implies Scheme https.
	Address    string `param:"address" env:"CONSUL_HTTP_ADDR" usage:"host:port of a Consul agent's HTTP API (default 127.0.0.1:8500)"`
	Scheme     string `param:"scheme" usage:"http or https (default http; https with TLS)"`
	Datacenter string `param:"datacenter" usage:"datacenter of the key (default: the agent's)"`
	// Token is the ACL token's secret; TokenFile names a file holding it
	// (read once, by Dial). At most one of them.
	Token     string `param:"token,secret" usage:"ACL token (default: CONSUL_HTTP_TOKEN)"`
	TokenFile string `param:"token-file" usage:"file holding the ACL token (default: CONSUL_HTTP_TOKEN_FILE)"`
	// TLS, when set, is used for the connections (Scheme becomes https);
	// otherwise TLSFiles, when any is set; otherwise Consul's CONSUL_*
	// TLS variables.
	TLS      *tls.Config
	TLSFiles datasource.TLSFiles `param:",inline"`
}

// String describes the configuration without its token.
func (c Config) String() string { return datasource.DescribeParams("consul", c) }

// LogValue keeps the token out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// backendParams are the parameters of Backend: a Config, the key and the
// watch's timings.
type backendParams struct {
	Config         `param:",inline"`
	Key            string        `param:"key,required" usage:"the key holding the rules (a leading / is dropped)"`
	KeyPrefix      string        `param:"key-prefix" usage:"prefix of the keys named by data id (key = prefix + data id)"`
	WaitTime       time.Duration `param:"wait-time" usage:"how long one blocking query waits for a change (default 30s, at most 10m)"`
	RequestTimeout time.Duration `param:"request-timeout" usage:"bound on each read and write (default 10s)"`
}

// Backend returns Consul's entry of a backend table. Every source it opens
// gets opts (after the options its parameters set).
func Backend(opts ...Option) datasource.Backend {
	return datasource.Backend{
		Name:    "consul",
		Summary: "one Consul KV key; followed with blocking queries, written with check-and-set on its ModifyIndex",
		Params:  datasource.ParamsOf(backendParams{}),
		Primary: "address",
		Open: datasource.TypedOpen("consul", backendParams{}, func(ctx context.Context, bp backendParams) (datasource.WritableSource, error) {
			all := []Option{WithWaitTime(bp.WaitTime), WithRequestTimeout(bp.RequestTimeout)}
			return Dial(ctx, bp.Config, bp.Key, append(all, opts...)...)
		}),
		DataID: datasource.DataIDAt("key", "key-prefix"),
	}
}

// Dial creates a client from cfg and returns a Source for key that owns it:
// Close closes its idle connections. It does not contact Consul; the first
// Read does.
func Dial(ctx context.Context, cfg Config, key string, opts ...Option) (*Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("consul: dial: %w", err)
	}
	if cfg.Token != "" && cfg.TokenFile != "" {
		return nil, errors.New("consul: token and token-file: give one of them")
	}
	token, err := resolveToken(cfg)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	ac := &api.Config{Address: cfg.Address, Scheme: cfg.Scheme, Datacenter: cfg.Datacenter, Token: token, Transport: tr}
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		if tlsCfg, err = cfg.TLSFiles.Config(); err != nil {
			return nil, fmt.Errorf("consul: %w", err)
		}
	}
	if tlsCfg != nil {
		// A TLS configuration on the transport is kept by the api, which
		// otherwise builds one from the CONSUL_* variables.
		tr.TLSClientConfig = tlsCfg.Clone()
		if ac.Scheme == "" {
			ac.Scheme = "https"
		}
	}
	if ac.Scheme != "" && ac.Scheme != "http" && ac.Scheme != "https" {
		return nil, fmt.Errorf("consul: scheme %q: want http or https", ac.Scheme)
	}
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("consul: client for %s: %w", cfg.Address, datasource.Secrets{token}.Error(err))
	}
	s, err := New(client, key, opts...)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	s.idle, s.secrets = tr.CloseIdleConnections, datasource.Secrets{token}
	return s, nil
}

// resolveToken returns the token cfg names, or the one Consul's variables
// name, so that the source knows the secret it must keep out of messages.
func resolveToken(cfg Config) (string, error) {
	if cfg.Token != "" {
		return cfg.Token, nil
	}
	file, what := cfg.TokenFile, "token-file"
	if file == "" {
		if t := os.Getenv(api.HTTPTokenEnvName); t != "" {
			return t, nil
		}
		file, what = os.Getenv(api.HTTPTokenFileEnvName), api.HTTPTokenFileEnvName
	}
	if file == "" {
		return "", nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("consul: %s %s: %w", what, file, err)
	}
	return strings.TrimSpace(string(raw)), nil
}
