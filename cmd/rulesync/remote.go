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
	"os"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/sources/redis"
)

// exitConflict: put lost a compare-and-set race; nothing was written.
const exitConflict = 3

// sourceFlags name one place rules live: a file, an etcd key or a Redis key
// with its channel. Passwords come from environment variables so that they
// stay out of shell history and process lists.
type sourceFlags struct {
	file        string
	etcd        string
	redis       string
	master      string
	key         string
	channel     string
	user        string
	passwordEnv string
}

func (sf *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.file, "file", "", "rules in a local file")
	fs.StringVar(&sf.etcd, "etcd", "", "etcd endpoints, comma-separated (with -key)")
	fs.StringVar(&sf.redis, "redis", "", "Redis addresses, comma-separated: one for a server, several for a Cluster, or Sentinels with -master (with -key and -channel)")
	fs.StringVar(&sf.master, "master", "", "Redis Sentinel master name")
	fs.StringVar(&sf.key, "key", "", "etcd or Redis key holding the rules")
	fs.StringVar(&sf.channel, "channel", "", "Redis channel the rules are published on")
	fs.StringVar(&sf.user, "user", "", "etcd or Redis (ACL) user")
	fs.StringVar(&sf.passwordEnv, "password-env", "", "name of the environment variable holding the password")
}

// open connects to the source the flags name.
func (sf *sourceFlags) open(ctx context.Context) (datasource.WritableSource, error) {
	n := 0
	for _, v := range []string{sf.file, sf.etcd, sf.redis} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("name exactly one source: -file, -etcd or -redis")
	}
	password := ""
	if sf.passwordEnv != "" {
		var ok bool
		if password, ok = os.LookupEnv(sf.passwordEnv); !ok {
			return nil, fmt.Errorf("environment variable %s is not set", sf.passwordEnv)
		}
	}
	quiet := slog.New(slog.DiscardHandler)
	switch {
	case sf.file != "":
		return file.New(sf.file)
	case sf.etcd != "":
		if sf.key == "" {
			return nil, errors.New("-etcd needs -key")
		}
		cfg := etcd.Config{Endpoints: split(sf.etcd), Username: sf.user, Password: password}
		return etcd.Dial(ctx, cfg, sf.key, etcd.WithLogger(quiet))
	default:
		if sf.key == "" || sf.channel == "" {
			return nil, errors.New("-redis needs -key and -channel")
		}
		opts := &goredis.UniversalOptions{Addrs: split(sf.redis), MasterName: sf.master, Username: sf.user, Password: password}
		return redis.Dial(ctx, opts, sf.key, sf.channel, redis.WithLogger(quiet))
	}
}

// describe names the source the flags name, for messages.
func (sf *sourceFlags) describe() string {
	switch {
	case sf.file != "":
		return sf.file
	case sf.etcd != "":
		return "etcd key " + sf.key
	default:
		return "Redis key " + sf.key
	}
}

func split(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
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
	c.ruleType = c.fs.String("type", "", "rule type: "+strings.Join(converter.RuleTypes(), ", "))
	c.src.register(c.fs)
	return c
}

func (c *remoteCmd) failf(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "rulesync %s: %s\n", c.name, fmt.Sprintf(format, args...))
	return exitFailed
}

// setup parses args (wanting nargs file arguments) and opens the codec, with
// the options opts returns once the flags are parsed, and the source.
func (c *remoteCmd) setup(ctx context.Context, args []string, nargs int, opts func() []converter.Option) (converter.Codec[any], datasource.WritableSource, int) {
	if err := c.fs.Parse(args); err != nil {
		return nil, nil, exitFailed
	}
	if c.fs.NArg() != nargs {
		return nil, nil, c.failf("want %d file argument(s), got %d", nargs, c.fs.NArg())
	}
	if *c.ruleType == "" {
		return nil, nil, c.failf("-type is required (one of %s)", strings.Join(converter.RuleTypes(), ", "))
	}
	var copts []converter.Option
	if opts != nil {
		copts = opts()
	}
	codec, err := converter.ByRuleType(*c.ruleType, copts...)
	if err != nil {
		return nil, nil, c.failf("%v", err)
	}
	src, err := c.src.open(ctx)
	if err != nil {
		return nil, nil, c.failf("%v", err)
	}
	return codec, src, exitOK
}

// getCmd prints the rules stored at the source.
func getCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newRemoteCmd("get", stdout, stderr)
	raw := c.fs.Bool("raw", false, "print the stored bytes as they are")
	codec, src, code := c.setup(ctx, args, 0, nil)
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
	rules, rep, err := codec.Decode(snap.Data)
	if err != nil {
		return c.failf("stored value: %v", err)
	}
	writeReport(stderr, "stored", rep)
	out, err := codec.Encode(rules)
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
	codec, src, code := c.setup(ctx, args, 1, func() []converter.Option {
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
	rules, rep, err := codec.Decode(data)
	if err != nil {
		return c.failf("%s: %v", name, err)
	}
	writeReport(stderr, name, rep)
	if len(rep.Rejected) > 0 {
		fmt.Fprintf(stderr, "rulesync put: %s has rejected rules; nothing stored\n", name)
		return exitRejected
	}
	out, err := codec.Encode(rules)
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
	codec, src, code := c.setup(ctx, args, 1, nil)
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
	var storedRep converter.Report
	switch {
	case snap.Exists:
		if stored, storedRep, err = codec.Decode(snap.Data); err != nil {
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
	local, localRep, err := codec.Decode(data)
	if err != nil {
		return c.failf("%s: %v", name, err)
	}
	writeReport(stderr, name, localRep)
	leftOut := len(storedRep.Rejected) + len(localRep.Rejected)
	if codec.Equal(stored, local) {
		if leftOut > 0 {
			fmt.Fprintf(stdout, "no difference among the accepted rules; %d rejected rule(s) left out (see above)\n", leftOut)
			return exitRejected
		}
		fmt.Fprintln(stdout, "no difference")
		return exitOK
	}
	a, err := canonicalRules(codec, stored)
	if err != nil {
		return c.failf("%v", err)
	}
	b, err := canonicalRules(codec, local)
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
// text per rule, so that equal rules compare equal as strings.
func canonicalRules(codec converter.Codec[any], rules any) ([]string, error) {
	out, err := codec.Encode(rules)
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(out, &items); err != nil {
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
	codec, src, code := c.setup(ctx, args, 0, nil)
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
	ds := datasource.New(src, codec, datasource.WithName(*c.ruleType), datasource.WithObserver(show),
		datasource.WithLogger(slog.New(slog.DiscardHandler)))
	defer ds.Close()
	if err := ds.Start(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "rulesync watch: %v (retrying)\n", err)
	}
	<-ctx.Done()
	return exitOK
}
