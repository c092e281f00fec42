// Command rulesync checks and converts Sentinel rule files the way the
// library reads them, without a running service:
//
//	rulesync validate -type flow rules.json     # what would be applied, what rejected and why
//	rulesync convert -type gw-flow -dashboard in.yaml > out.json
//	rulesync types                              # the rule types it knows
//
// and the same against a config center, with compare-and-set:
//
//	rulesync get -type flow -etcd 127.0.0.1:2379 -key /sentinel/flow
//	rulesync put -type flow -redis 127.0.0.1:6379 -key flow -channel flow:ch -password-env REDIS_PW rules.json
//	rulesync diff -type flow -file /etc/app/flow.json rules.json
//	rulesync watch -type flow -etcd 127.0.0.1:2379 -key /sentinel/flow
//
// and a service's startup file (package startup) checked without a service:
//
//	rulesync check-config rulesync.yaml           # every problem with its YAML path and line
//	rulesync check-config -connect rulesync.yaml  # then read each source once
//
// and serves cluster flow control as a standalone token server, with the
// rules of each namespace from files or a config center:
//
//	rulesync token-server -addr :18730 -namespace orders -flow orders-flow-rules.json
//	rulesync token-server -addr :18730 -namespace orders,payments -etcd 127.0.0.1:2379 -key-prefix /sentinel/
//
// Flags come before the file argument: parsing stops at the first argument
// that is not a flag. A file argument of "-" (or none, for validate and
// convert) reads standard input. Files and standard input are read with the
// file source's size check (4 MiB, file.DefaultMaxSize), so that a file the
// service would refuse is refused here too. validate exits 0 when every rule is accepted, 1 when some are
// rejected (or, with -strict, when a key is unknown), 2 when the input cannot
// be read at all or the command line is wrong. convert writes the accepted
// rules in canonical Sentinel JSON (-dashboard: what the dashboard stores;
// -yaml: YAML) and exits like validate, reporting to standard error. put
// stores nothing from a file with a rejected rule, and compares and sets
// against the revision it read (or -if-revision): a conflict exits 3. diff
// labels its sides (--- stored, +++ the file), reports on standard error the
// rules either side rejects (and exits 1 when there are any), exits 1 when the
// rules differ, and fails (exit 2) when nothing is stored, unless
// -missing-as-empty. check-config exits 2 when the startup file has
// problems, 1 when -connect could not read a source or found rejected rules.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"sigs.k8s.io/yaml"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

// Exit codes.
const (
	exitOK       = 0
	exitRejected = 1 // some rules were rejected
	exitDiffer   = 1 // diff: the file and the source hold different rules
	exitFailed   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  rulesync validate -type TYPE [-strict] [FILE]
  rulesync convert  -type TYPE [-dashboard] [-yaml] [-strict] [FILE]
  rulesync get      -type TYPE SOURCE [-raw]
  rulesync put      -type TYPE SOURCE [-if-revision REV | -force] [-dashboard] FILE
  rulesync diff     -type TYPE SOURCE [-missing-as-empty] FILE
  rulesync watch    -type TYPE SOURCE
  rulesync check-config [-connect] [-env-prefix P] STARTUP-FILE
  rulesync token-server -addr HOST:PORT -namespace NS [-flow FILE] [-param FILE]
  rulesync token-server -addr HOST:PORT -namespace NS[,NS...] (-dir DIR | SOURCE)
  rulesync types

TYPE is one of: %s.
SOURCE is -file PATH, -etcd ENDPOINTS -key KEY, or -redis ADDRS -key KEY -channel CHANNEL
[-master NAME], with -username and -password-env VAR (or -password-file FILE) where
the server wants them; "rulesync get -h" lists every parameter of every backend.
FILE "-" reads standard input (validate and convert: also no FILE).
Flags come before FILE. Files larger than 4 MiB are refused, as the file source does.
token-server serves cluster tokens (Sentinel's protocol) until SIGINT or SIGTERM; each
namespace's cluster rules come from the files, or from {NS}-flow-rules and {NS}-param-rules
in DIR or the config center (-key-prefix, -channel-prefix), and are followed as they change.
`

// run is the command with its process surroundings passed in, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, strings.Join(ruleapply.RuleTypeNames(), ", "))
		return exitFailed
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "types":
		for _, t := range ruleapply.RuleTypeNames() {
			fmt.Fprintln(stdout, t)
		}
		return exitOK
	case "validate", "convert":
		return decodeCmd(ctx, cmd, rest, stdin, stdout, stderr)
	case "get":
		return getCmd(ctx, rest, stdout, stderr)
	case "put":
		return putCmd(ctx, rest, stdin, stdout, stderr)
	case "diff":
		return diffCmd(ctx, rest, stdin, stdout, stderr)
	case "watch":
		return watchCmd(ctx, rest, stdout, stderr)
	case "check-config":
		return checkConfigCmd(ctx, rest, stdout, stderr)
	case "token-server":
		return tokenServerCmd(ctx, rest, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintf(stdout, usage, strings.Join(ruleapply.RuleTypeNames(), ", "))
		return exitOK
	default:
		fmt.Fprintf(stderr, "rulesync: unknown command %q\n"+usage, cmd, strings.Join(ruleapply.RuleTypeNames(), ", "))
		return exitFailed
	}
}

// decodeCmd runs validate and convert, which share reading and reporting.
func decodeCmd(ctx context.Context, cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rulesync "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ruleType := fs.String("type", "", "rule type: "+strings.Join(ruleapply.RuleTypeNames(), ", "))
	strict := fs.Bool("strict", false, "treat unknown keys as errors")
	var dashboard, asYAML *bool
	if cmd == "convert" {
		dashboard = fs.Bool("dashboard", false, "write what the Sentinel dashboard stores (interval units, entity wrappers)")
		asYAML = fs.Bool("yaml", false, "write YAML instead of JSON")
	}
	if err := fs.Parse(args); err != nil {
		return exitFailed
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "rulesync %s: one file at most, got %d\n", cmd, fs.NArg())
		return exitFailed
	}
	if *ruleType == "" {
		fmt.Fprintf(stderr, "rulesync %s: -type is required (one of %s)\n", cmd, strings.Join(ruleapply.RuleTypeNames(), ", "))
		return exitFailed
	}
	var opts []converter.Option
	if dashboard != nil && *dashboard {
		opts = append(opts, converter.WithDashboardFormat())
	}
	codec, err := codecFor(*ruleType, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "rulesync %s: %v\n", cmd, err)
		return exitFailed
	}
	name := fs.Arg(0)
	data, err := readInput(ctx, name, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "rulesync %s: %v\n", cmd, err)
		return exitFailed
	}
	if name == "" {
		name = "-"
	}
	rules, rep, err := codec.Decode(data)
	if err != nil {
		fmt.Fprintf(stderr, "rulesync %s: %s: %v\n", cmd, name, err)
		return exitFailed
	}
	// validate reports on stdout (the report is its output); convert keeps
	// stdout for the rules.
	reportTo := stdout
	if cmd == "convert" {
		reportTo = stderr
	}
	writeReport(reportTo, name, rep)
	if cmd == "convert" {
		out, err := codec.Encode(rules)
		if err == nil && *asYAML {
			out, err = yaml.JSONToYAML(out)
		}
		if err != nil {
			fmt.Fprintf(stderr, "rulesync convert: encode: %v\n", err)
			return exitFailed
		}
		if len(out) == 0 || out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		if _, err := stdout.Write(out); err != nil {
			fmt.Fprintf(stderr, "rulesync convert: %v\n", err)
			return exitFailed
		}
	}
	if len(rep.Rejected) > 0 || *strict && len(rep.UnknownKeys) > 0 {
		return exitRejected
	}
	return exitOK
}

// readInput reads the named file, or stdin for "" and "-", through the file
// source's own size check (file.DefaultMaxSize), so that the commands refuse
// exactly what a service reading the file would.
func readInput(ctx context.Context, name string, stdin io.Reader) ([]byte, error) {
	if name == "" || name == "-" {
		data, err := file.ReadAll(stdin, 0)
		if err != nil {
			return nil, fmt.Errorf("standard input: %w", err)
		}
		return data, nil
	}
	src, err := file.New(name)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	snap, err := src.Read(ctx)
	if err != nil {
		return nil, err
	}
	if !snap.Exists {
		return nil, fmt.Errorf("%s: no such file", name)
	}
	return snap.Data, nil
}

// writeReport prints the decode report one finding per line, so that it
// reads well in a terminal and greps well in CI logs.
func writeReport(w io.Writer, name string, rep codec.Report) {
	if rep.Total == 0 {
		// "", whitespace, null and [] all mean: no rules of this type.
		fmt.Fprintf(w, "%s: %s, empty payload: clears this rule type\n", name, rep.Format)
	} else {
		fmt.Fprintf(w, "%s: %s, %d of %d rules accepted\n", name, rep.Format, rep.Accepted, rep.Total)
	}
	for _, rj := range rep.Rejected {
		fmt.Fprintf(w, "  rejected: %s\n", rj)
	}
	for _, u := range rep.UnknownKeys {
		if u.Index < 0 {
			fmt.Fprintf(w, "  unknown key: %q at the top level\n", u.Key)
			continue
		}
		fmt.Fprintf(w, "  unknown key: %q in rule %d\n", u.Key, u.Index)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// codecFor returns the codec of the rule type named ruleType, from the
// rule-type table.
func codecFor(ruleType string, opts ...converter.Option) (codec.Codec[any], error) {
	rt, err := ruleapply.LookupRuleType(ruleType)
	if err != nil {
		return nil, err
	}
	return rt.AnyCodec(opts...), nil
}
