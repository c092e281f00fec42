package startup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/internal/suggest"
	"github.com/rulesync/rulesync/ruleapply"
)

// The keys of a startup file.
const (
	keyApp            = "app"
	keySnapshotDir    = "snapshot-dir"
	keyResync         = "resync"
	keyInitialTimeout = "initial-timeout"
	keyDataSource     = "datasource"

	keyRuleType = "rule-type"
	keyDataType = "data-type"
	keyDataID   = "data-id"
)

// topScalars are the top-level keys holding one value.
var topScalars = []string{keyApp, keySnapshotDir, keyResync, keyInitialTimeout}

// entryKeys are the keys of a datasource that are not the backend's.
var entryKeys = []string{keyRuleType, keyDataType, keyDataID}

// reserved are top-level keys kept for features other packages will bring,
// refused until a Section for them is given.
var reserved = map[string]string{
	"dashboard": "the Sentinel dashboard's command API",
	"cluster":   "cluster flow control: the token server and client",
}

// dataTypes are the values data-type accepts.
var dataTypes = []string{"json", "yaml"}

// Section handles one top-level key of the startup file that this package
// does not know itself, such as dashboard or cluster: the package that
// implements the feature describes its settings with Params (a nested key is
// written with dots: "client.request-timeout") and starts it with Start once
// every datasource is bound. The section's settings are checked like a
// backend's parameters (unknown keys, required ones, kinds, secrets as
// <name>-env or <name>-file).
type Section struct {
	// Key is the top-level key, e.g. "dashboard".
	Key string
	// Params are the settings under Key.
	Params []datasource.Param
	// Check, if set, checks the settings p (resolved, each of its kind)
	// beyond what Params say: values of a fixed set, settings that go
	// together. cfg is the file read so far (App and DataSources set). Each
	// problem is reported at the key its Param names (a setting's name, or
	// "" for the section as a whole), so that Load finds it without
	// starting anything.
	Check func(cfg *Config, p datasource.Params) []datasource.ParamProblem
	// Start starts the feature with the settings p (resolved: secrets read,
	// environment defaults applied). What it returns is closed by
	// Handle.Close before the datasources are. It is called only when the
	// file has the key.
	Start func(ctx context.Context, h *Handle, p datasource.Params) (io.Closer, error)
}

// Option configures Load, Parse, Open and OpenFile.
type Option func(*options)

type options struct {
	envPrefix string
	env       map[string]string
	sections  []Section
	logger    *slog.Logger
	dsOpts    []datasource.Option
	strict    bool
}

func newOptions(opts []Option) options {
	o := options{envPrefix: "RULESYNC", logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.env == nil {
		o.env = map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				o.env[k] = v
			}
		}
	}
	return o
}

func (o *options) lookupEnv(k string) (string, bool) {
	v, ok := o.env[k]
	return v, ok
}

// WithEnvPrefix sets the prefix of the environment variables that override
// keys of the file (default "RULESYNC"); "" turns overrides off.
func WithEnvPrefix(prefix string) Option {
	return func(o *options) { o.envPrefix = strings.ToUpper(strings.TrimSuffix(prefix, "_")) }
}

// WithEnv replaces the process environment, for overrides, secrets given as
// <name>-env and the backends' environment defaults alike: tests pass a map,
// programs that build their environment themselves pass theirs.
func WithEnv(env map[string]string) Option {
	return func(o *options) {
		o.env = make(map[string]string, len(env))
		for k, v := range env {
			o.env[k] = v
		}
	}
}

// WithSection handles the top-level key s.Key (see Section).
func WithSection(s Section) Option {
	return func(o *options) { o.sections = append(o.sections, s) }
}

// WithLogger sets the logger every datasource logs its events to, and that
// logs what the engine's managers reject (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithDataSourceOptions passes opts to every datasource, after the ones the
// file sets (name, snapshot directory, resync, initial timeout): an
// observer for metrics, a backoff.
func WithDataSourceOptions(opts ...datasource.Option) Option {
	return func(o *options) { o.dsOpts = append(o.dsOpts, opts...) }
}

// WithStrictStart makes Open fail, closing everything again, when the first
// read of a datasource fails (its server is down and no snapshot stands in).
// By default Open returns the Handle: such a datasource starts empty, keeps
// trying in the background and says so in its Status.
func WithStrictStart() Option { return func(o *options) { o.strict = true } }

// Config is a startup file read and checked against the rule-type and
// backend tables. Its datasources' parameters (secrets included) are kept
// unexported, so that printing a Config shows no secret.
type Config struct {
	// File is the name the file was read under.
	File string
	// App is the application's name (app).
	App string
	// SnapshotDir is where every datasource keeps its last good payload
	// (snapshot-dir); empty for none.
	SnapshotDir string
	// Resync is the period of a full read under every watch (resync); 0 for
	// none.
	Resync time.Duration
	// InitialTimeout bounds the first read of each source (initial-timeout);
	// 0 for the datasource's default.
	InitialTimeout time.Duration
	// DataSources are the datasources, in the order of their names.
	DataSources []DataSource

	backends datasource.Backends
	sections []sectionConfig
}

// DataSource is one datasource of a startup file.
type DataSource struct {
	Name     string
	Backend  string
	RuleType ruleapply.RuleType
	DataType string // "json" or "yaml"
	DataID   string // as given, "" when none

	params  *hidden // resolved, for Backend.Open
	secrets map[string]bool
}

// hidden holds resolved parameters, secrets included, behind a pointer:
// fmt prints a nested pointer as an address, so that printing a Config
// with %+v shows no secret.
type hidden struct{ p datasource.Params }

func (h *hidden) get() datasource.Params {
	if h == nil {
		return nil
	}
	return h.p
}

// String describes the datasource with every parameter it opens its source
// with, secrets shown as REDACTED.
func (d DataSource) String() string {
	params := d.params.get()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s rule-type=%s", d.Name, d.Backend, d.RuleType.Name())
	for _, k := range keys {
		v := strconv.Quote(params[k])
		if d.secrets[k] {
			v = "REDACTED"
		}
		b.WriteString(" " + k + "=" + v)
	}
	return b.String()
}

// LogValue keeps secrets out of structured logs.
func (d DataSource) LogValue() slog.Value { return slog.StringValue(d.String()) }

// Secret reports whether the backend parameter named param is a secret.
func (d DataSource) Secret(param string) bool { return d.secrets[param] }

// Param returns the value of a parameter the source is opened with; a
// secret's value is returned as "REDACTED".
func (d DataSource) Param(name string) (string, bool) {
	v, ok := d.params.get()[name]
	if ok && d.secrets[name] {
		return "REDACTED", true
	}
	return v, ok
}

// sectionConfig is a Section whose key the file has, with its settings.
type sectionConfig struct {
	s      Section
	params *hidden
}

// Load reads the startup file at path and checks it against the rule-type
// table and backends, without connecting anything. A file that cannot be
// used gives a *ConfigError listing every problem.
func Load(path string, backends datasource.Backends, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &ConfigError{File: path, Problems: []Problem{{Message: "cannot read the file: " + err.Error()}}}
	}
	return Parse(path, data, backends, opts...)
}

// Parse is Load of data, a file's content, read under the name file.
func Parse(file string, data []byte, backends datasource.Backends, opts ...Option) (*Config, error) {
	o := newOptions(opts)
	var ps problems
	raw := readYAML(data, &ps, &o, backends.Names())
	if raw == nil {
		return nil, ps.err(file)
	}
	applyEnv(raw, &o, backends, &ps)
	cfg := check(raw, &o, backends, &ps)
	if err := ps.err(file); err != nil {
		return nil, err
	}
	cfg.File = file
	return cfg, nil
}

// check turns the raw file into a Config, adding a problem for everything
// wrong with it.
func check(raw *rawFile, o *options, backends datasource.Backends, ps *problems) *Config {
	cfg := &Config{backends: backends}
	if v := raw.top[keyApp]; v != nil {
		cfg.App = v.text
	}
	if v := raw.top[keySnapshotDir]; v != nil {
		cfg.SnapshotDir = v.text
	}
	if v := raw.top[keyResync]; v != nil {
		if d, err := time.ParseDuration(v.text); err != nil || d < 0 {
			ps.at(v, "%q is not a duration (e.g. 5m, 30s; 0 for none)", v.text)
		} else {
			cfg.Resync = d
		}
	}
	if v := raw.top[keyInitialTimeout]; v != nil {
		if d, err := time.ParseDuration(v.text); err != nil || d <= 0 {
			ps.at(v, "%q is not a positive duration (e.g. 3s)", v.text)
		} else {
			cfg.InitialTimeout = d
		}
	}
	if len(raw.entries) == 0 && raw.dsLine >= 0 {
		ps.add(keyDataSource, raw.dsLine, "", "no datasource is declared (datasource.<name>.<backend>.rule-type ...)")
	}
	boundBy := map[string]string{} // rule type -> datasource path
	for _, en := range raw.entries {
		d, ok := checkEntry(en, cfg.App, o, backends, ps)
		if !ok {
			continue
		}
		if first, dup := boundBy[string(d.RuleType.Name())]; dup {
			ps.at(en.keys[keyRuleType], "rule type %s is already bound by %s: one datasource per rule type (a second one would overwrite its rules)", d.RuleType.Name(), first)
			continue
		}
		boundBy[string(d.RuleType.Name())] = en.path
		cfg.DataSources = append(cfg.DataSources, d)
	}
	for _, rs := range raw.sections {
		var s Section
		for _, cand := range o.sections {
			if cand.Key == rs.key {
				s = cand
			}
		}
		pseudo := datasource.Backend{Name: rs.key, Params: s.Params}
		params := datasource.Params{}
		for k, v := range rs.values {
			params[k] = v.text
		}
		resolved, list := pseudo.Diagnose(params, o.lookupEnv)
		for _, pr := range list {
			reportParam(ps, pr, rs.key, rs.line, rs.values)
		}
		if len(list) == 0 && s.Check != nil {
			list = s.Check(cfg, resolved.Clone())
			for _, pr := range list {
				if pr.Param == "" {
					ps.add(rs.key, rs.line, "", "%s", pr.Reason)
					continue
				}
				reportParam(ps, pr, rs.key, rs.line, rs.values)
			}
		}
		if len(list) == 0 {
			cfg.sections = append(cfg.sections, sectionConfig{s: s, params: &hidden{resolved}})
		}
	}
	return cfg
}

var placeholder = regexp.MustCompile(`\$\{[^}]*\}?`)

// checkEntry checks one datasource against the tables.
func checkEntry(en *rawEntry, app string, o *options, backends datasource.Backends, ps *problems) (DataSource, bool) {
	d := DataSource{Name: en.name}
	b, err := backends.Lookup(en.backend)
	if err != nil {
		msg := fmt.Sprintf("unknown backend %q", en.backend)
		if guess := suggest.Closest(en.backend, backends.Names()); guess != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", guess)
		}
		ps.add(en.path+"."+en.backend, en.backendLine, "", "%s; known: %s", msg, strings.Join(backends.Names(), ", "))
		return d, false
	}
	d.Backend = b.Name
	ok := true
	for _, v := range en.keys {
		expanded, err := expand(v.text, app)
		if err != nil {
			ps.at(v, "%v", err)
			ok = false
			continue
		}
		v.text = expanded
	}
	// A misspelt rule-type or data-id is not a backend parameter: say so
	// rather than let the backend guess among its own.
	accepted := append(append([]string{}, entryKeys...), paramKeys(b.Params)...)
	params := datasource.Params{}
	guessed := map[string]bool{}
	for k, v := range en.keys {
		if contains(entryKeys, k) {
			continue
		}
		if !contains(accepted, k) {
			if guess := suggest.Closest(k, entryKeys); guess != "" {
				ps.at(v, "unknown key (did you mean %q?)", guess)
				guessed[guess] = true
				ok = false
				continue
			}
		}
		params[k] = v.text
	}
	if v := en.keys[keyRuleType]; v == nil {
		if !guessed[keyRuleType] && !en.bad[keyRuleType] {
			ps.add(en.path+"."+en.backend+"."+keyRuleType, en.backendLine, "", "missing: the rule type of the datasource (one of %s)", strings.Join(engineRuleTypes(), ", "))
		}
		ok = false
	} else if rt, err := ruleapply.LookupRuleType(v.text); err != nil {
		msg := fmt.Sprintf("unknown rule type %q", v.text)
		if guess := suggest.Closest(strings.ToLower(v.text), engineRuleTypes()); guess != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", guess)
		}
		ps.at(v, "%s; known: %s", msg, strings.Join(engineRuleTypes(), ", "))
		ok = false
	} else if rt.Target() != ruleapply.TargetEngine {
		// A token server's configs and the cluster map feed no engine
		// manager: bound here they would be read and then go nowhere.
		ps.at(v, "rule type %q configures cluster flow control (%s), not the engine: a startup file does not bind it (the cluster section takes a token server's settings)", v.text, rt.Target())
		ok = false
	} else {
		d.RuleType = rt
	}
	d.DataType = "json"
	if v := en.keys[keyDataType]; v != nil {
		dt := strings.ToLower(strings.TrimSpace(v.text))
		if !contains(dataTypes, dt) {
			ps.at(v, "data-type %q is not supported (json or yaml; payloads are read as either)", v.text)
			ok = false
		}
		d.DataType = dt
	}
	if v := en.keys[keyDataID]; v != nil {
		d.DataID = v.text
		switch {
		case b.DataID != nil:
			named := b.DataID(params.Clone(), v.text)
			for k, nv := range named {
				if given, dup := en.keys[k]; dup && given.text != nv {
					ps.at(given, "data-id %q sets %s to %q too: give one of them", v.text, k, nv)
					ok = false
				}
			}
			params = named
		case hasParam(b, keyDataID):
			params[keyDataID] = v.text
		default:
			ps.at(v, "backend %s does not name payloads by data id; use its own parameters", b.Name)
			ok = false
		}
	}
	resolved, list := b.Diagnose(params, o.lookupEnv)
	for _, pr := range list {
		if !en.bad[pr.Param] {
			reportParam(ps, pr, en.path+"."+en.backend, en.backendLine, en.keys)
		}
	}
	if len(list) > 0 || !ok {
		return d, false
	}
	d.params = &hidden{resolved}
	d.secrets = map[string]bool{}
	for _, p := range b.Params {
		if p.Secret {
			d.secrets[p.Name] = true
		}
	}
	return d, true
}

// reportParam adds a backend's (or section's) problem at the key it concerns.
func reportParam(ps *problems, pr datasource.ParamProblem, parent string, parentLine int, keys map[string]*value) {
	if v := keys[pr.Param]; v != nil && !pr.Missing {
		ps.at(v, "%s", pr.Reason)
		return
	}
	ps.add(parent+"."+pr.Param, parentLine, "", "%s", pr.Reason)
}

// expand replaces ${app} in s; any other ${...} is an error.
func expand(s, app string) (string, error) {
	var bad error
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		if m == "${app}" {
			if app == "" && bad == nil {
				bad = errors.New("${app} is used but app is not set")
			}
			return app
		}
		if bad == nil {
			bad = fmt.Errorf("unknown placeholder %s (only ${app} is known)", m)
		}
		return m
	})
	return out, bad
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasParam(b datasource.Backend, name string) bool {
	for _, p := range b.Params {
		if p.Name == name {
			return true
		}
	}
	return false
}

// String lists the file's settings and datasources, secrets shown as
// REDACTED.
func (c *Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: app=%q snapshot-dir=%q resync=%v initial-timeout=%v, %d datasources", c.File, c.App, c.SnapshotDir, c.Resync, c.InitialTimeout, len(c.DataSources))
	for _, d := range c.DataSources {
		b.WriteString("\n  " + d.String())
	}
	for _, sc := range c.sections {
		b.WriteString("\n  " + sc.s.Key + ":")
		params := sc.params.get()
		keys := make([]string, 0, len(params))
		for k := range params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		secret := map[string]bool{}
		for _, p := range sc.s.Params {
			secret[p.Name] = p.Secret
		}
		for _, k := range keys {
			v := strconv.Quote(params[k])
			if secret[k] {
				v = "REDACTED"
			}
			b.WriteString(" " + k + "=" + v)
		}
	}
	return b.String()
}

// engineRuleTypes names the rule types a datasource of a startup file may
// have: those that feed the engine (the cluster's configs do not).
func engineRuleTypes() []string {
	var names []string
	for _, rt := range ruleapply.RuleTypes() {
		if rt.Target() == ruleapply.TargetEngine {
			names = append(names, string(rt.Name()))
		}
	}
	return names
}
