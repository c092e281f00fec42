package datasource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
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
// known one it probably meant), every missing required one and every
// secret that could not be read, never a secret's value.
func (b Backend) Resolve(p Params, lookupEnv func(string) (string, bool)) (Params, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	out := make(Params, len(p))
	var problems []string
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
				problems = append(problems, fmt.Sprintf("%q and %q both give %s", base, k, base))
				continue
			}
			secret, err := readSecret(via, v, lookupEnv)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", k, err))
				continue
			}
			out[base] = secret
			continue
		}
		msg := fmt.Sprintf("unknown parameter %q", k)
		if guess := b.closest(k); guess != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", guess)
		}
		problems = append(problems, msg)
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
			problems = append(problems, fmt.Sprintf("missing required parameter %q", bp.Name))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w for backend %s: %s", ErrBadParams, b.Name, strings.Join(problems, "; "))
	}
	return out, nil
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

// closest returns the known parameter nearest to k by edit distance, if it
// is near enough to be a likely typo.
func (b Backend) closest(k string) string {
	best, bestD := "", len(k)/2+1
	for _, p := range b.Params {
		if d := editDistance(k, p.Name); d < bestD {
			best, bestD = p.Name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
