package datasource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rulesync/rulesync/internal/suggest"
)

// Params holds the settings of one source as text, keyed as a startup file
// or a command line spells them ("server-addr", "data-id").
type Params map[string]string

// Clone returns a copy of p that can be changed without changing p.
func (p Params) Clone() Params {
	out := make(Params, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// Param describes one parameter a backend accepts.
type Param struct {
	Name  string // as written in a startup file: "server-addr"
	Usage string // one line for help texts
	// Required parameters must be given (or come from Env).
	Required bool
	// Secret parameters (passwords, tokens) never appear in logs, errors or
	// descriptions. Besides its own name, a secret may be given as
	// "<name>-env" (the name of an environment variable holding it) or
	// "<name>-file" (a file holding it, surrounding space trimmed), so that a
	// startup file or a command line need not hold the secret itself.
	Secret bool
	// Env names an environment variable that supplies the value when the
	// parameter is not given.
	Env string
	// Default is the value used when neither the parameter nor Env is set,
	// as documentation (the backend applies it).
	Default string
	// Kind is the value's kind, for help texts and command-line flags:
	// "string", "list" (comma-separated), "bool", "int", "number" or
	// "duration".
	Kind string
}

// Backend is one kind of config center in a backend table: its name, the
// parameters it accepts, and how to open a source from them. Each source
// package offers one (file.Backend(), etcd.Backend(), ...).
type Backend struct {
	// Name is how startup files and command lines name the backend: "etcd".
	Name string
	// Summary says in one line what a source of this backend is.
	Summary string
	// Params lists every parameter the backend accepts.
	Params []Param
	// Primary names the parameter that a command line's -<Name> flag sets
	// (the file path, the etcd endpoints, the Nacos server address).
	Primary string
	// Open opens the source that p names. Backends.Open calls it with p
	// resolved (see Backend.Resolve): no unknown parameter, every required
	// one present, environment defaults and secret indirections applied.
	Open func(ctx context.Context, p Params) (WritableSource, error)
	// DataID returns a copy of p that names the payload dataID, a data id
	// such as "myapp-flow-rules" (a Nacos data id, an etcd key under a
	// prefix, a file in a directory): BindApp and cluster namespace
	// suppliers open one source per data id this way.
	DataID func(p Params, dataID string) Params
}

// Errors of the backend table; test them with errors.Is.
var (
	// ErrUnknownBackend: no backend of that name in the table.
	ErrUnknownBackend = errors.New("rulesync: unknown backend")
	// ErrBadParams: parameters that a backend cannot use (unknown, missing,
	// malformed). The error lists every problem found.
	ErrBadParams = errors.New("rulesync: bad parameters")
)

// param returns the parameter named name.
func (b Backend) param(name string) (Param, bool) {
	for _, p := range b.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Resolve checks p against the backend's parameters and returns the
// parameters Open gets: environment defaults applied (through lookupEnv;
// nil means os.LookupEnv), secrets given as <name>-env or <name>-file read.
// The error wraps ErrBadParams and names every unknown parameter (with the
// known one it probably meant), every missing required one, every value
// that is not of its parameter's kind and every secret that could not be
// read, never a secret's value. Diagnose returns the same problems one by
// one.
func (b Backend) Resolve(p Params, lookupEnv func(string) (string, bool)) (Params, error) {
	out, problems := b.Diagnose(p, lookupEnv)
	if len(problems) > 0 {
		texts := make([]string, len(problems))
		for i, pr := range problems {
			texts[i] = pr.String()
		}
		return nil, fmt.Errorf("%w for backend %s: %s", ErrBadParams, b.Name, strings.Join(texts, "; "))
	}
	return out, nil
}

// ParamProblem is one thing wrong with the parameters given to a backend,
// as Diagnose finds it.
type ParamProblem struct {
	// Param is the parameter concerned as it was given ("password-env", a
	// misspelt "server-adr"), or the name of a missing required one.
	Param string
	// Reason says what is wrong without repeating Param, e.g. "missing
	// required parameter" or "unknown parameter (did you mean \"addr\"?)".
	// It never holds a secret's value.
	Reason string
	// Missing is set when the parameter is required and was not given.
	Missing bool

	text string
}

// String is the problem in one phrase that names the parameter.
func (p ParamProblem) String() string {
	if p.text != "" {
		return p.text
	}
	return p.Param + ": " + p.Reason
}

// Diagnose is Resolve with its problems one by one, for callers that report
// each against where the parameter was written (a startup file's YAML path).
// The parameters are returned only when there is no problem.
func (b Backend) Diagnose(p Params, lookupEnv func(string) (string, bool)) (Params, []ParamProblem) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	out := make(Params, len(p))
	var problems []ParamProblem
	secretFrom := map[string]bool{} // resolved through -env or -file: shown as (secret)
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := p[k]
		if _, ok := b.param(k); ok {
			out[k] = v
			continue
		}
		base, via, indirect := secretIndirection(k)
		if bp, ok := b.param(base); indirect && ok && bp.Secret {
			if _, direct := p[base]; direct {
				problems = append(problems, ParamProblem{Param: k, Reason: fmt.Sprintf("%q is given too: give the %s one way", base, base),
					text: fmt.Sprintf("%q and %q both give %s", base, k, base)})
				continue
			}
			secret, err := readSecret(via, v, lookupEnv)
			if err != nil {
				problems = append(problems, ParamProblem{Param: k, Reason: err.Error()})
				continue
			}
			out[base] = secret
			secretFrom[base] = true
			continue
		}
		reason := "unknown parameter"
		text := fmt.Sprintf("unknown parameter %q", k)
		if guess := b.closest(k); guess != "" {
			reason += fmt.Sprintf(" (did you mean %q?)", guess)
			text += fmt.Sprintf(" (did you mean %q?)", guess)
		}
		problems = append(problems, ParamProblem{Param: k, Reason: reason, text: text})
	}
	for _, bp := range b.Params {
		if _, ok := out[bp.Name]; ok {
			continue
		}
		if bp.Env != "" {
			if v, ok := lookupEnv(bp.Env); ok && v != "" {
				out[bp.Name] = v
				continue
			}
		}
		if bp.Required {
			reason := "missing required parameter"
			if bp.Env != "" {
				reason += fmt.Sprintf(" (or environment variable %s)", bp.Env)
			}
			problems = append(problems, ParamProblem{Param: bp.Name, Reason: reason, Missing: true,
				text: fmt.Sprintf("missing required parameter %q", bp.Name)})
		}
	}
	for _, bp := range b.Params {
		v, ok := out[bp.Name]
		if !ok {
			continue
		}
		if err := checkKind(bp.Kind, v); err != nil {
			given := bp.Name
			if secretFrom[bp.Name] {
				if _, viaEnv := p[bp.Name+"-env"]; viaEnv {
					given += "-env"
				} else {
					given += "-file"
				}
			}
			shown := fmt.Sprintf("%q", v)
			if bp.Secret {
				shown = "(secret)"
			}
			problems = append(problems, ParamProblem{Param: given, Reason: fmt.Sprintf("%s: %v", shown, err),
				text: fmt.Sprintf("%s=%s: %v", bp.Name, shown, err)})
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return out, nil
}

// checkKind reports whether raw can be read as a value of kind (see
// Param.Kind), the way DecodeParams reads it.
func checkKind(kind, raw string) error {
	s := strings.TrimSpace(raw)
	switch kind {
	case "bool":
		if _, err := strconv.ParseBool(s); err != nil {
			return errors.New("not a boolean (true or false)")
		}
	case "int":
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return errors.New("not an integer in range")
		}
	case "number":
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return errors.New("not a number")
		}
	case "duration":
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return nil
		}
		if _, err := time.ParseDuration(s); err != nil {
			return errors.New("not a duration (e.g. 1.5s, 200ms)")
		}
	}
	return nil
}

// secretIndirection splits "password-env" into ("password", "env", true).
func secretIndirection(k string) (base, via string, ok bool) {
	for _, suffix := range []string{"-env", "-file"} {
		if b, found := strings.CutSuffix(k, suffix); found && b != "" {
			return b, suffix[1:], true
		}
	}
	return "", "", false
}

func readSecret(via, name string, lookupEnv func(string) (string, bool)) (string, error) {
	if via == "env" {
		v, ok := lookupEnv(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return v, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("read %s: %v", name, pe.Err)
		}
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// closest returns the known parameter nearest to k, if it is near enough
// to be a likely typo.
func (b Backend) closest(k string) string {
	names := make([]string, len(b.Params))
	for i, p := range b.Params {
		names[i] = p.Name
	}
	return suggest.Closest(k, names)
}

// Backends is a backend table: the config centers a program can open
// sources on, by name. It is a plain value: build it from the backends a
// program links (datasource.Backends{file.Backend(), etcd.Backend()}); the
// first backend of a name wins.
type Backends []Backend

// Lookup returns the backend named name (case-insensitive).
func (bs Backends) Lookup(name string) (Backend, error) {
	want := strings.ToLower(strings.TrimSpace(name))
	for _, b := range bs {
		if b.Name == want {
			return b, nil
		}
	}
	return Backend{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownBackend, name, strings.Join(bs.Names(), ", "))
}

// Names returns the backends' names, in table order.
func (bs Backends) Names() []string {
	names := make([]string, 0, len(bs))
	for _, b := range bs {
		if !slices.Contains(names, b.Name) {
			names = append(names, b.Name)
		}
	}
	return names
}

// Check validates p for the backend named name without connecting: the
// same checks Open makes before it dials.
func (bs Backends) Check(name string, p Params) error {
	b, err := bs.Lookup(name)
	if err != nil {
		return err
	}
	_, err = b.Resolve(p, nil)
	return err
}

// Open resolves p for the backend named name and opens the source.
func (bs Backends) Open(ctx context.Context, name string, p Params) (WritableSource, error) {
	b, err := bs.Lookup(name)
	if err != nil {
		return nil, err
	}
	rp, err := b.Resolve(p, nil)
	if err != nil {
		return nil, err
	}
	return b.Open(ctx, rp)
}
