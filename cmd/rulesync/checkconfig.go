package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rulesync/rulesync/startup"
	"github.com/rulesync/rulesync/startup/sections"
)

// checkConfigCmd checks a startup file against the rule-type table and the
// command line's backend table, as startup.Load does, without connecting;
// -connect then tries every source once. Exit 0: the file is good (and,
// with -connect, every source was read and every rule accepted); 1: with
// -connect, a source failed or rules were rejected; 2: the file has
// problems, each listed with its YAML path and line.
func checkConfigCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rulesync check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	connect := fs.Bool("connect", false, "also try each source once: open it, read it, decode its rules")
	envPrefix := fs.String("env-prefix", "RULESYNC", `prefix of the environment variables that override keys ("" for none)`)
	if err := fs.Parse(args); err != nil {
		return exitFailed
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: rulesync check-config [-connect] [-env-prefix P] FILE")
		return exitFailed
	}
	// The dashboard and cluster sections are checked as a service that
	// passes them would check them; -connect probes the datasources only.
	cfg, err := startup.Load(fs.Arg(0), cliBackends(), startup.WithEnvPrefix(*envPrefix),
		startup.WithSection(sections.Dashboard()), startup.WithSection(sections.Cluster()))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s: %d datasources", cfg.File, len(cfg.DataSources))
	if cfg.App != "" {
		fmt.Fprintf(stdout, ", app %q", cfg.App)
	}
	var extras []string
	if cfg.SnapshotDir != "" {
		extras = append(extras, "snapshot-dir "+cfg.SnapshotDir)
	}
	if cfg.Resync > 0 {
		extras = append(extras, "resync "+cfg.Resync.String())
	}
	if cfg.InitialTimeout > 0 {
		extras = append(extras, "initial-timeout "+cfg.InitialTimeout.String())
	}
	if len(extras) > 0 {
		fmt.Fprintf(stdout, " (%s)", strings.Join(extras, ", "))
	}
	fmt.Fprintln(stdout)
	for _, d := range cfg.DataSources {
		fmt.Fprintf(stdout, "  %s\n", d)
	}
	if !*connect {
		return exitOK
	}
	code := exitOK
	for _, r := range startup.Probe(ctx, cfg) {
		name := r.DataSource.Name
		switch {
		case r.Err != nil:
			code = exitRejected
			fmt.Fprintf(stdout, "%s: FAILED after %v: %v\n", name, r.Took.Round(1e6), r.Err)
		case !r.Exists:
			fmt.Fprintf(stdout, "%s: ok, nothing stored yet (the datasource would start empty and watch)\n", name)
		default:
			fmt.Fprintf(stdout, "%s: ok, revision %s, %s\n", name, r.Revision, r.Report)
			if len(r.Report.Rejected) > 0 {
				code = exitRejected
			}
		}
	}
	return code
}
