package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rulesync/rulesync/backends"
	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/nacos"
)

// exitConflict: put lost a compare-and-set race; nothing was written.
const exitConflict = 3

// sourceFlags name one place rules live, with flags made from the backend
// table: -<backend> VALUE picks the backend and sets its primary parameter
// (-etcd ENDPOINTS, -file PATH); every other parameter of any backend is a
// flag of its own name (-key, -channel, -username). A secret is never a flag
// of its own: -<name>-env names the environment variable that holds it and
// -<name>-file a file, so that it stays out of shell history and process
// lists.
type sourceFlags struct {
	backends datasource.Backends
	primary  map[string]*string     // backend name -> its flag
	params   map[string]*paramValue // parameter name -> its flag
}

// paramValue is a flag holding one parameter's text; a bool parameter's
// flag may be given without a value (-tls).
type paramValue struct {
	v      string
	isBool bool
}

func (p *paramValue) String() string     { return p.v }
func (p *paramValue) Set(s string) error { p.v = s; return nil }
func (p *paramValue) IsBoolFlag() bool   { return p.isBool }

// cliBackends is the backend table of the command line. The sources' own
// log lines, and nacos-sdk-go's process-wide log, are silenced: the
// commands report what fails themselves.
func cliBackends() datasource.Backends {
	quiet := slog.New(slog.DiscardHandler)
	nacos.SetSDKLogger(quiet)
	return backends.All(backends.WithLogger(quiet))
}

func (sf *sourceFlags) register(fs *flag.FlagSet) {
	sf.backends = cliBackends()
	sf.primary = map[string]*string{}
	sf.params = map[string]*paramValue{}
	for _, b := range sf.backends {
		sf.primary[b.Name] = fs.String(b.Name, "", fmt.Sprintf("%s: %s (%s)", b.Name, b.Primary, b.Summary))
	}
	users := map[string][]string{}
	var order []string
	// A name several backends share may mean something else in each: the
	// flag's help says which backends mean what.
	type meaning struct {
		text     string
		backends []string
	}
	meanings := map[string][]meaning{}
	isBool := map[string]bool{}
	for _, b := range sf.backends {
		for _, p := range b.Params {
			if p.Name == b.Primary {
				continue
			}
			names := map[string]string{p.Name: p.Usage}
			if p.Secret {
				names = map[string]string{
					p.Name + "-env":  "name of the environment variable holding the " + p.Name,
					p.Name + "-file": "file holding the " + p.Name,
				}
			}
			for _, n := range slices.Sorted(maps.Keys(names)) {
				if _, seen := users[n]; !seen {
					order = append(order, n)
					isBool[n] = p.Kind == "bool"
				}
				users[n] = append(users[n], b.Name)
				i := slices.IndexFunc(meanings[n], func(m meaning) bool { return m.text == names[n] })
				if i < 0 {
					meanings[n] = append(meanings[n], meaning{text: names[n]})
					i = len(meanings[n]) - 1
				}
				meanings[n][i].backends = append(meanings[n][i].backends, b.Name)
			}
		}
	}
	usage := func(n string) string {
		ms := meanings[n]
		if len(ms) == 1 {
			return fmt.Sprintf("%s (%s)", ms[0].text, strings.Join(ms[0].backends, ", "))
		}
		parts := make([]string, len(ms))
		for i, m := range ms {
			parts[i] = strings.Join(m.backends, ", ") + ": " + m.text
		}
		return strings.Join(parts, "; ")
	}
	for _, n := range order {
		if _, clash := sf.primary[n]; clash {
			continue
		}
		v := &paramValue{isBool: isBool[n]}
		flagName := n
		if fs.Lookup(n) != nil {
			// The command has a flag of that name already (token-server's
			// -namespace): the parameter gets its backends' name in front.
			flagName = strings.Join(users[n], "-") + "-" + n
		}
		fs.Var(v, flagName, usage(n))
		sf.params[n] = v
	}
}

// describe names the source the flags chose, for messages: the backend,
// its primary parameter and the other parameters given, secrets left out.
func (sf *sourceFlags) describe() string {
	for _, name := range sf.backends.Names() {
		if v := *sf.primary[name]; v != "" {
			parts := []string{name, v}
			var keys []string
			for k, p := range sf.params {
				if p.v != "" && !strings.HasSuffix(k, "-env") && !strings.HasSuffix(k, "-file") {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				parts = append(parts, k+"="+sf.params[k].v)
			}
			return strings.Join(parts, " ")
		}
	}
	return "no source"
}

// open connects to the source the flags name.
func (sf *sourceFlags) open(ctx context.Context) (datasource.WritableSource, error) {
	var chosen []string
	for _, name := range sf.backends.Names() {
		if *sf.primary[name] != "" {
			chosen = append(chosen, name)
		}
	}
	if len(chosen) != 1 {
		flags := make([]string, 0, len(sf.backends))
		for _, name := range sf.backends.Names() {
			flags = append(flags, "-"+name)
		}
		return nil, fmt.Errorf("name exactly one source: %s", strings.Join(flags, ", "))
	}
	b, err := sf.backends.Lookup(chosen[0])
	if err != nil {
		return nil, err
	}
	p := datasource.Params{b.Primary: *sf.primary[b.Name]}
	for name, v := range sf.params {
		if v.v != "" {
			p[name] = v.v
		}
	}
	return sf.backends.Open(ctx, b.Name, p)
}

// remoteCmd holds what get, put, diff and watch share: their flags, the
// codec and the source.
type remoteCmd struct {
	name           string
	fs             *flag.FlagSet
	ruleType       *string
	src            sourceFlags
	stdout, stderr io.Writer
}

func newRemoteCmd(name string, stdout, stderr io.Writer) *remoteCmd {
	c := &remoteCmd{name: name, fs: flag.NewFlagSet("rulesync "+name, flag.ContinueOnError), stdout: stdout, stderr: stderr}
	c.fs.SetOutput(stderr)
	c.ruleType = c.fs.String("type", "", "rule type: "+strings.Join(ruleapply.RuleTypeNames(), ", "))
	c.src.register(c.fs)
	return c
}

func (c *remoteCmd) failf(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "rulesync %s: %s\n", c.name, fmt.Sprintf(format, args...))
	return exitFailed
}

// setup parses args (wanting nargs file arguments) and opens the codec, with
// the options opts returns once the flags are parsed, and the source.
func (c *remoteCmd) setup(ctx context.Context, args []string, nargs int, opts func() []converter.Option) (codec.Codec[any], datasource.WritableSource, int) {
	if err := c.fs.Parse(args); err != nil {
		return nil, nil, exitFailed
	}
	if c.fs.NArg() != nargs {
		return nil, nil, c.failf("want %d file argument(s), got %d", nargs, c.fs.NArg())
	}
	if *c.ruleType == "" {
		return nil, nil, c.failf("-type is required (one of %s)", strings.Join(ruleapply.RuleTypeNames(), ", "))
	}
	var copts []converter.Option
	if opts != nil {
		copts = opts()
	}
	rc, err := codecFor(*c.ruleType, copts...)
	if err != nil {
		return nil, nil, c.failf("%v", err)
	}
	src, err := c.src.open(ctx)
	if err != nil {
		return nil, nil, c.failf("%v", err)
	}
	return rc, src, exitOK
}

// getCmd prints the rules stored at the source.
func getCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newRemoteCmd("get", stdout, stderr)
	raw := c.fs.Bool("raw", false, "print the stored bytes as they are")
	rc, src, code := c.setup(ctx, args, 0, nil)
	if code != exitOK {
		return code
	}
	defer src.Close()
	snap, err := src.Read(ctx)
	if err != nil {
		return c.failf("%v", err)
	}
	if !snap.Exists {
		return c.failf("nothing stored there")
	}
	fmt.Fprintf(stderr, "revision: %s\n", snap.Revision)
	if *raw {
		_, _ = stdout.Write(snap.Data)
		return exitOK
	}
	rules, rep, err := rc.Decode(snap.Data)
	if err != nil {
		return c.failf("stored value: %v", err)
	}
	writeReport(stderr, "stored", rep)
	out, err := rc.Encode(rules)
	if err != nil {
		return c.failf("encode: %v", err)
	}
	_, _ = stdout.Write(out)
	if len(rep.Rejected) > 0 {
		return exitRejected
	}
	return exitOK
}

// putCmd validates a file and stores it with compare-and-set.
func putCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newRemoteCmd("put", stdout, stderr)
	ifRev := c.fs.String("if-revision", "", "store only if the stored revision is still this one (default: the revision read just before writing)")
	force := c.fs.Bool("force", false, "store whatever is stored now (no compare-and-set)")
	dashboard := c.fs.Bool("dashboard", false, "store what the Sentinel dashboard stores (interval units, entity wrappers)")
	rc, src, code := c.setup(ctx, args, 1, func() []converter.Option {
		if *dashboard {
			return []converter.Option{converter.WithDashboardFormat()}
		}
		return nil
	})
	if code != exitOK {
		return code
	}
	defer src.Close()
	name := c.fs.Arg(0)
	data, err := readInput(ctx, name, stdin)
	if err != nil {
		return c.failf("%v", err)
	}
	rules, rep, err := rc.Decode(data)
	if err != nil {
		return c.failf("%s: %v", name, err)
	}
	writeReport(stderr, name, rep)
	if len(rep.Rejected) > 0 {
		fmt.Fprintf(stderr, "rulesync put: %s has rejected rules; nothing stored\n", name)
		return exitRejected
	}
	out, err := rc.Encode(rules)
	if err != nil {
		return c.failf("encode: %v", err)
	}
	expect := *ifRev
	switch {
	case *force:
		expect = datasource.AnyRevision
	case expect == "":
		cur, err := src.Read(ctx)
		if err != nil {
			return c.failf("%v", err)
		}
		expect = cur.Revision // "" when nothing is stored: create only
	}
	snap, err := src.Write(ctx, out, expect)
	if errors.Is(err, datasource.ErrConflict) {
		fmt.Fprintf(stderr, "rulesync put: the stored rules changed meanwhile; nothing stored: %v\n", err)
		return exitConflict
	}
	if err != nil {
		return c.failf("%v", err)
	}
	fmt.Fprintf(stderr, "stored, revision: %s\n", snap.Revision)
	return exitOK
}

// diffCmd compares a file with what is stored, rule by rule. Rules that
// either side rejects are left out of the comparison and reported on stderr.
func diffCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newRemoteCmd("diff", stdout, stderr)
	missingEmpty := c.fs.Bool("missing-as-empty", false, "compare with no rules when nothing is stored (default: fail)")
	rc, src, code := c.setup(ctx, args, 1, nil)
	if code != exitOK {
		return code
	}
	defer src.Close()
	snap, err := src.Read(ctx)
	if err != nil {
		return c.failf("%v", err)
	}
	storedLabel := "stored: " + c.src.describe()
	var stored any
	var storedRep codec.Report
	switch {
	case snap.Exists:
		if stored, storedRep, err = rc.Decode(snap.Data); err != nil {
			return c.failf("stored value: %v", err)
		}
		writeReport(stderr, "stored", storedRep)
		storedLabel += " (revision " + snap.Revision + ")"
	case *missingEmpty:
		storedLabel += " (nothing stored)"
	default:
		return c.failf("nothing stored at %s; pass -missing-as-empty to compare with no rules", c.src.describe())
	}
	name := c.fs.Arg(0)
	data, err := readInput(ctx, name, stdin)
	if err != nil {
		return c.failf("%v", err)
	}
	local, localRep, err := rc.Decode(data)
	if err != nil {
		return c.failf("%s: %v", name, err)
	}
	writeReport(stderr, name, localRep)
	leftOut := len(storedRep.Rejected) + len(localRep.Rejected)
	if rc.Equal(stored, local) {
		if leftOut > 0 {
			fmt.Fprintf(stdout, "no difference among the accepted rules; %d rejected rule(s) left out (see above)\n", leftOut)
			return exitRejected
		}
		fmt.Fprintln(stdout, "no difference")
		return exitOK
	}
	a, err := canonicalRules(rc, stored)
	if err != nil {
		return c.failf("%v", err)
	}
	b, err := canonicalRules(rc, local)
	if err != nil {
		return c.failf("%v", err)
	}
	fmt.Fprintf(stdout, "--- %s\n+++ %s\n", storedLabel, name)
	differ := false
	for _, r := range a {
		if !slices.Contains(b, r) {
			fmt.Fprintf(stdout, "- %s\n", r)
			differ = true
		}
	}
	for _, r := range b {
		if !slices.Contains(a, r) {
			fmt.Fprintf(stdout, "+ %s\n", r)
			differ = true
		}
	}
	if !differ {
		// The order of a resource's rules is the order they are checked in.
		fmt.Fprintln(stdout, "same rules, in another order")
	}
	return exitDiffer
}

// canonicalRules encodes rules and splits the list into one compact JSON
// text per rule, so that equal rules compare equal as strings. A config that
// is one object (a token server's transport config) is one item.
func canonicalRules(rc codec.Codec[any], rules any) ([]string, error) {
	out, err := rc.Encode(rules)
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if t := bytes.TrimSpace(out); len(t) > 0 && t[0] == '{' {
		items = []json.RawMessage{t}
	} else if err := json.Unmarshal(out, &items); err != nil {
		return nil, err
	}
	texts := make([]string, len(items))
	for i, it := range items {
		var b bytes.Buffer
		if err := json.Compact(&b, it); err != nil {
			return nil, err
		}
		texts[i] = b.String()
	}
	return texts, nil
}

// watchCmd follows the source and prints every event, until ctx ends.
func watchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newRemoteCmd("watch", stdout, stderr)
	rc, src, code := c.setup(ctx, args, 0, nil)
	if code != exitOK {
		return code
	}
	show := datasource.ObserverFunc(func(e datasource.Event) {
		line := fmt.Sprintf("%s %s", e.Time.Format(time.RFC3339), e.Kind)
		if e.Revision != "" {
			line += " revision " + e.Revision
		}
		if e.Report != nil {
			line += ": " + e.Report.String()
		}
		if e.Err != nil {
			line += ": " + e.Err.Error()
		}
		fmt.Fprintln(stdout, line)
	})
	ds := datasource.New(src, rc, datasource.WithName(*c.ruleType), datasource.WithObserver(show),
		datasource.WithLogger(slog.New(slog.DiscardHandler)))
	defer ds.Close()
	if err := ds.Start(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "rulesync watch: %v (retrying)\n", err)
	}
	<-ctx.Done()
	return exitOK
}
