package apollo

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apolloconfig/agollo/v5"
	agconfig "github.com/apolloconfig/agollo/v5/env/config"
	"github.com/apolloconfig/agollo/v5/protocol/auth/sign"
	"github.com/apolloconfig/agollo/v5/storage"

	"github.com/rulesync/rulesync/datasource"
)

// Config names one key of one Apollo namespace and, for writes, the portal
// that edits it. Its param tags name the parameters of Backend.
type Config struct {
	ConfigServer string `param:"config-server,required" env:"APOLLO_CONFIG_SERVICE" usage:"address of the config service (http://host:8080)"`
	AppID        string `param:"app-id,required" env:"APP_ID" usage:"Apollo app id"`
	Cluster      string `param:"cluster" default:"default" usage:"cluster (default \"default\")"`
	Namespace    string `param:"namespace" default:"application" usage:"namespace (default \"application\"); a properties namespace, or the text of a json/txt one under key content"`
	Key          string `param:"key,required" usage:"the item holding the rules ({app}-flow-rules)"`
	Secret       string `param:"secret,secret" env:"APOLLO_ACCESS_KEY_SECRET" usage:"access key secret of the app, when the config service requires one"`
	// Portal, Token, Env and Operator reach the OpenAPI; without Portal the
	// source is read-only.
	Portal   string `param:"portal" env:"APOLLO_PORTAL" usage:"address of the portal whose OpenAPI writes (http://host:8070); unset: read-only"`
	Token    string `param:"token,secret" env:"APOLLO_OPENAPI_TOKEN" usage:"OpenAPI token of a third-party app allowed to edit and release the namespace"`
	Env      string `param:"env" default:"DEV" usage:"environment the portal writes to (default DEV)"`
	Operator string `param:"operator" default:"apollo" usage:"portal user named as editor and releaser (default apollo); give rulesync a user of its own"`
	// HealthCheck is how long a watch may go without hearing from agollo
	// before it reads the config service itself (default 30s).
	HealthCheck time.Duration `param:"health-check" usage:"read the config service after this long without a notification (default 30s)"`
	// TLS, when set, is used for rulesync's own requests (reads and OpenAPI);
	// otherwise TLSFiles. agollo's long poll does not use it (see the package doc).
	TLS      *tls.Config
	TLSFiles datasource.TLSFiles `param:",inline"`
}

// String describes the configuration without its secret and token.
func (c Config) String() string { return datasource.DescribeParams("apollo", c) }

// LogValue keeps the secret and the token out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Option configures a Source.
type Option func(*Source)

// WithLogger sets the logger for failed health reads (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Source) {
		if l != nil {
			s.log = l
		}
	}
}

// Backend returns Apollo's entry of a backend table; every source it opens
// gets opts. DataID names the item: key = data id.
func Backend(opts ...Option) datasource.Backend {
	return datasource.Backend{
		Name:    "apollo",
		Summary: "one item of an Apollo namespace, read on agollo's notifications; written through the portal's OpenAPI (item update + release, checked before and after)",
		Params:  datasource.ParamsOf(Config{}),
		Primary: "config-server",
		Open: datasource.TypedOpen("apollo", Config{}, func(ctx context.Context, c Config) (datasource.WritableSource, error) {
			return Open(ctx, c, opts...)
		}),
		DataID: datasource.DataIDAt("key", ""),
	}
}

// Source is one item of one Apollo namespace as a datasource.WritableSource.
// It is safe for concurrent use.
type Source struct {
	cfg     Config
	http    *http.Client
	secrets datasource.Secrets
	log     *slog.Logger
	closed  atomic.Bool

	agolloStarted atomic.Bool
	mu            sync.Mutex
	client        agollo.Client // nil until agollo's start returns
	watchers      map[chan struct{}]struct{}
}

var (
	_ datasource.WritableSource = (*Source)(nil)
	_ datasource.Redactor       = (*Source)(nil)
	_ storage.ChangeListener    = (*Source)(nil)
)

// Open checks cfg and returns the source; it does not wait for the server
// (Read and Watch tell whether it answers). The source's agollo client
// starts, in the background, at the first read that finds the namespace
// released: agollo's first sync cannot be cancelled and retries for about
// ten seconds on an unreachable server.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("apollo: open: %w", err)
	}
	cfg.ConfigServer, cfg.Portal = strings.TrimRight(cfg.ConfigServer, "/"), strings.TrimRight(cfg.Portal, "/")
	cfg.Cluster, cfg.Namespace = or(cfg.Cluster, "default"), or(cfg.Namespace, "application")
	cfg.Env, cfg.Operator = or(cfg.Env, "DEV"), or(cfg.Operator, "apollo")
	if cfg.HealthCheck <= 0 {
		cfg.HealthCheck = 30 * time.Second
	}
	switch {
	case cfg.ConfigServer == "" || cfg.AppID == "" || cfg.Key == "":
		return nil, errors.New("apollo: config-server, app-id and key are required")
	case strings.HasSuffix(cfg.Namespace, ".yml") || strings.HasSuffix(cfg.Namespace, ".yaml"):
		return nil, fmt.Errorf("apollo: namespace %q: yaml namespaces are parsed into keys by the client; keep rules in a properties namespace", cfg.Namespace)
	case cfg.Portal != "" && cfg.Token == "":
		return nil, errors.New("apollo: portal needs a token")
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		var err error
		if tlsCfg, err = cfg.TLSFiles.Config(); err != nil {
			return nil, fmt.Errorf("apollo: %w", err)
		}
	}
	s := &Source{
		cfg:      cfg,
		http:     &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tlsCfg}},
		secrets:  datasource.Secrets{cfg.Secret, cfg.Token},
		log:      slog.Default(),
		watchers: map[chan struct{}]struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("source", "apollo", "app", cfg.AppID, "namespace", cfg.Namespace, "key", cfg.Key)
	return s, nil
}

// startAgollo starts the source's agollo client once. It waits for the
// namespace's first release (a read that is not a 404): agollo treats a 404
// as a failed config service and pauses the long polls of every client of
// that address in the process for 30 s.
func (s *Source) startAgollo() {
	if s.agolloStarted.Swap(true) {
		return
	}
	noFallback.Do(func() { agollo.SetLoadBalance(noDiscovered{}) })
	app := &agconfig.AppConfig{
		AppID: s.cfg.AppID, Cluster: s.cfg.Cluster, NamespaceName: s.cfg.Namespace, IP: s.cfg.ConfigServer,
		Secret: s.cfg.Secret, IsBackupConfig: false, SyncServerTimeout: 5,
	}
	go func() {
		c, err := agollo.StartWithConfig(func() (*agconfig.AppConfig, error) { return app, nil })
		if err != nil {
			s.log.Warn("agollo did not start; only health reads follow changes", "err", s.secrets.Error(err))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed.Load() {
			c.Close()
			return
		}
		c.AddChangeListener(s)
		s.client = c
		s.wakeLocked() // changes during agollo's first sync sent no event
	}()
}

// noFallback replaces agollo's load balancer, once per process, with
// noDiscovered: agollo's round robin reads ServerInfo.IsDown while another
// client of the same config-service address writes it under a lock the
// balancer does not take (a data race whenever two clients fail together,
// as when the server goes away).
var noFallback sync.Once

// noDiscovered is an agollo load balancer that never picks a discovered
// config-service instance: agollo asks it only during the 30 s after a
// request to the configured address failed, and then waits instead (what
// its round robin does too when that address is the only instance).
type noDiscovered struct{}

func (noDiscovered) Load(map[string]*agconfig.ServerInfo) *agconfig.ServerInfo { return nil }

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Read returns the item as the config service serves it now, from the
// latest release of the namespace. A namespace without a release (404) or a
// release without the key reads as missing. A read takes at most
// HealthCheck.
func (s *Source) Read(ctx context.Context) (datasource.Snapshot, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, datasource.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HealthCheck)
	defer cancel()
	u := fmt.Sprintf("%s/configs/%s/%s/%s", s.cfg.ConfigServer, url.PathEscape(s.cfg.AppID), url.PathEscape(s.cfg.Cluster), url.PathEscape(s.cfg.Namespace))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return datasource.Snapshot{}, fmt.Errorf("apollo: read: %w", err)
	}
	if s.cfg.Secret != "" {
		for k, v := range (&sign.AuthSignature{}).HTTPHeaders(u, s.cfg.AppID, s.cfg.Secret) {
			req.Header[k] = v
		}
	}
	status, body, err := s.do(req)
	if err != nil || status == http.StatusNotFound {
		return datasource.Snapshot{}, err
	}
	s.startAgollo()
	return configValue(body, s.cfg.Key)
}

// configValue returns key's value in a /configs answer (missing: Exists false).
func configValue(body []byte, key string) (datasource.Snapshot, error) {
	var c struct {
		Configurations map[string]string `json:"configurations"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return datasource.Snapshot{}, fmt.Errorf("apollo: bad answer of the config service: %w", err)
	}
	if v, ok := c.Configurations[key]; ok {
		return datasource.ContentSnapshot([]byte(v)), nil
	}
	return datasource.Snapshot{}, nil
}

// do sends req and returns the answer's status and body. A 404 is a status,
// not an error: callers say what it means. Errors name the request, never
// the secret or the token.
func (s *Source) do(req *http.Request) (int, []byte, error) {
	what := req.Method + " " + req.URL.Path
	resp, err := s.http.Do(req)
	if err != nil {
		if s.closed.Load() && errors.Is(err, context.Canceled) {
			return 0, nil, datasource.ErrClosed
		}
		return 0, nil, fmt.Errorf("apollo: %s: %w", what, s.secrets.Error(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	switch {
	case err != nil:
		return 0, nil, fmt.Errorf("apollo: %s: %w", what, s.secrets.Error(err))
	case resp.StatusCode != http.StatusNotFound && resp.StatusCode/100 != 2:
		msg := strings.TrimSpace(string(body))
		var e struct{ Message string }
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		return resp.StatusCode, nil, fmt.Errorf("apollo: %s: %s: %.300s", what, resp.Status, s.secrets.Redact(msg))
	}
	return resp.StatusCode, body, nil
}

// Watch emits the item whenever it changes, until ctx ends. agollo's long
// poll says when the key changed; the source then reads the config service
// (Read), so that what it emits is the server's current state, in order.
// After HealthCheck without a notification it reads anyway: a change agollo
// missed is emitted then, and a config service that fails that read and the
// next one ends Watch with an error wrapping datasource.ErrSilent.
func (s *Source) Watch(ctx context.Context, from datasource.Snapshot, emit func(datasource.Snapshot)) error {
	if s.closed.Load() {
		return datasource.ErrClosed
	}
	wake := make(chan struct{}, 1)
	s.mu.Lock()
	s.watchers[wake] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, wake)
		s.mu.Unlock()
	}()
	changes := datasource.NewChanges(from, emit)
	silence := datasource.NewSilence(s.cfg.HealthCheck)
	defer silence.Stop()
	// Until the namespace has a release, agollo does not run: poll it.
	unreleased := time.NewTicker(time.Second)
	defer unreleased.Stop()
	refresh := func() error {
		snap, err := s.Read(ctx)
		if err != nil {
			return err
		}
		silence.Heard()
		changes.Emit(snap)
		return nil
	}
	// A change between the caller's read and the registration above has no
	// notification left to come.
	if err := refresh(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			if err := refresh(); err != nil {
				return err
			}
		case <-unreleased.C:
			if s.agolloStarted.Load() {
				unreleased.Stop()
			} else if err := refresh(); err != nil {
				return err
			}
		case <-silence.C():
			if err := silence.Elapsed(fmt.Sprintf("apollo: config service %s", s.cfg.ConfigServer)); err != nil {
				return err
			}
			if err := refresh(); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.Warn("health read failed; trying once more before the watch ends", "err", err)
			}
		}
	}
}

// OnChange implements storage.ChangeListener for agollo: it wakes the
// watches when an event of the source's namespace touches its key. agollo
// calls it on a goroutine per event, in no order; the watches read the
// current state, so order does not matter.
func (s *Source) OnChange(e *storage.ChangeEvent) {
	if e == nil || e.Namespace != s.cfg.Namespace {
		return
	}
	if _, ok := e.Changes[s.cfg.Key]; !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wakeLocked()
}

// wakeLocked wakes every watch; call with s.mu held.
func (s *Source) wakeLocked() {
	for w := range s.watchers {
		select {
		case w <- struct{}{}:
		default: // a wake is pending already
		}
	}
}

// OnNewestChange implements storage.ChangeListener; full snapshots are not
// needed (OnChange covers every change of the key).
func (s *Source) OnNewestChange(*storage.FullChangeEvent) {}

// Close stops the agollo client. agollo cannot cancel a request in flight:
// its long-poll goroutine ends when the config service answers the poll it
// holds (within the server's hold time, 60 s on Apollo), or when its retries
// against an unreachable server run out (about 10 s).
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	c := s.client
	s.client = nil
	s.mu.Unlock()
	if c != nil {
		c.RemoveChangeListener(s)
		c.Close()
	}
	s.http.CloseIdleConnections()
	return nil
}

// String describes the source by its Config, without secret and token.
func (s *Source) String() string { return s.cfg.String() }

// Redact implements datasource.Redactor: it removes the secret and the token.
func (s *Source) Redact(msg string) string { return s.secrets.Redact(msg) }
