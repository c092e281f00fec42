package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/dashboard"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/metrics"
	"github.com/rulesync/rulesync/ruleapply"
	"github.com/rulesync/rulesync/sources/file"
)

// resource is the one endpoint the quickstart protects.
const resource = "GET:/hello"

// maxBody bounds what the admin endpoint reads.
const maxBody = 1 << 20

type config struct {
	rulesPath string
	logger    *slog.Logger
	clock     engine.Clock // nil: the system clock
	observer  func(datasource.Event)
	// apiAddr, when set, is where the Sentinel dashboard's commands are
	// served (host:port); dashboards are where heartbeats go.
	apiAddr    string
	dashboards []string
}

// server is the quickstart service: one protected endpoint and an admin API
// over the flow rules, which live in a file watched by a datasource.
type server struct {
	engine *engine.Engine
	rules  *datasource.DataSource[[]flow.Rule]
	codec  codec.Codec[[]flow.Rule]
	unbind func()
	log    *slog.Logger
	prom   *prometheus.Registry
	agent  *dashboard.Agent // nil without -api-addr
}

func newServer(ctx context.Context, cfg config) (*server, error) {
	src, err := file.New(cfg.rulesPath)
	if err != nil {
		return nil, err
	}
	var eopts []engine.Option
	if cfg.clock != nil {
		eopts = append(eopts, engine.WithClock(cfg.clock))
	}
	e := engine.New(eopts...)
	codec := converter.Flow()
	// The datasource logs what happens to the file, one line per event (see
	// the datasource package doc); the observer only passes events on.
	observe := func(ev datasource.Event) {
		if cfg.observer != nil {
			cfg.observer(ev)
		}
	}
	collector := metrics.NewCollector()
	collector.AddEngine("quickstart", e)
	ds := datasource.New(src, codec, datasource.WithName(cfg.rulesPath), datasource.WithLogger(cfg.logger),
		datasource.WithObserver(datasource.ObserverFunc(observe)), datasource.WithObserver(collector.Observer()))
	collector.AddDataSource(ds)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector)
	unbind := ruleapply.Bind(ds.Property(), e.Flow(), ruleapply.WithName("flow"), ruleapply.WithLogger(cfg.logger))
	// A file that cannot be read at startup is logged by the datasource,
	// which keeps watching it: the service starts with no limits and applies
	// the file once it is fixed, as it would after a bad edit later on.
	_ = ds.Start(ctx)
	s := &server{engine: e, rules: ds, codec: codec, unbind: unbind, log: cfg.logger, prom: reg}
	if cfg.apiAddr != "" {
		// The Sentinel dashboard manages the service: it lists it, charts its
		// traffic, and its flow rule edits are written to the rules file with
		// compare-and-set (other rule types have no datasource here, so the
		// agent refuses them rather than keeping them in memory only).
		app := ruleapply.AppOf(ruleapply.BindingOf(ruleapply.Flow, ds))
		agent, err := dashboard.New(e, "quickstart", dashboard.WithListenAddr(cfg.apiAddr),
			dashboard.WithDashboards(cfg.dashboards...), dashboard.WithRules(app), dashboard.WithLogger(cfg.logger))
		if err == nil {
			err = agent.Start(ctx)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		s.agent = agent
	}
	return s, nil
}

func (s *server) Close() error {
	var err error
	if s.agent != nil {
		err = s.agent.Close()
	}
	s.unbind()
	err = errors.Join(err, s.rules.Close())
	s.engine.Close()
	return err
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", s.hello)
	mux.HandleFunc("GET /admin/rules", s.getRules)
	mux.HandleFunc("PUT /admin/rules", s.putRules)
	mux.HandleFunc("GET /admin/status", s.status)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.prom, promhttp.HandlerOpts{}))
	return mux
}

// hello is the protected endpoint. The caller names itself in X-Caller, which
// becomes the origin that limitApp rules match.
func (s *server) hello(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if caller := r.Header.Get("X-Caller"); caller != "" {
		ctx = engine.WithOrigin(ctx, caller)
	}
	en, err := s.engine.Entry(ctx, resource, engine.Inbound())
	if err != nil {
		var be *engine.BlockError
		if errors.As(err, &be) {
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "rate limited", "reason": be.Reason})
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer en.Exit()
	fmt.Fprintln(w, "hello")
}

// getRules returns the rules in force as canonical Sentinel JSON; the ETag is
// their revision, to send back in If-Match.
func (s *server) getRules(w http.ResponseWriter, _ *http.Request) {
	rules, _ := s.rules.Property().Get()
	body, err := s.codec.Encode(rules)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("ETag", `"`+s.rules.Status().Revision+`"`)
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(body, '\n'))
}

// putRules replaces the rules through the datasource with compare-and-set:
// If-Match must carry the revision the client read ("*" overwrites), and a
// stale one is answered with 409 Conflict instead of a silent overwrite. The
// reply carries the decode report, as a watched edit would log it.
func (s *server) putRules(w http.ResponseWriter, r *http.Request) {
	match := strings.Trim(r.Header.Get("If-Match"), `"`)
	if match == "" {
		writeJSON(w, http.StatusPreconditionRequired, map[string]string{"error": `If-Match is required: send the ETag of GET /admin/rules, or "*" to overwrite`})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body unreadable or larger than 1 MiB"})
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "empty body: send the rules as a JSON list, or [] to clear every rule"})
		return
	}
	rules, rep, err := s.codec.Decode(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if rep.Total == 0 && !bytes.Contains(body, []byte("[")) {
		// null, or a YAML document with nothing in it: it would clear every
		// rule, and clearing must be asked for explicitly.
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body holds no list of rules: send [] to clear every rule"})
		return
	}
	if len(rep.Rejected) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "some rules are invalid; nothing was written", "report": reportJSON(rep)})
		return
	}
	st := s.rules.Status()
	if match != "*" && match != st.LatestRevision {
		out := map[string]any{"error": "the rules changed since you read them; GET them again", "revision": st.LatestRevision}
		if st.LatestError != nil && match == st.Revision {
			out["error"] = fmt.Sprintf("the file now holds revision %s, which cannot be read (%v); the rules in force are still those of %s. "+
				`Fix the file, or replace it: send If-Match: "%s" (or "*")`, st.LatestRevision, st.LatestError, st.Revision, st.LatestRevision)
		}
		writeJSON(w, http.StatusConflict, out)
		return
	}
	if match == "*" {
		err = datasource.Update(r.Context(), s.rules, func([]flow.Rule) ([]flow.Rule, error) { return rules, nil })
	} else {
		err = s.rules.Write(r.Context(), rules)
	}
	switch {
	case errors.Is(err, datasource.ErrConflict):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "the rules changed since you read them; GET them again"})
	case errors.Is(err, datasource.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	default:
		w.Header().Set("ETag", `"`+s.rules.Status().Revision+`"`)
		writeJSON(w, http.StatusOK, map[string]any{"applied": len(rules), "report": reportJSON(rep)})
	}
}

// reportJSON is a decode report as the admin API shows it: what the read
// path logs, field by field.
func reportJSON(rep codec.Report) map[string]any {
	rejected := make([]map[string]any, len(rep.Rejected))
	for i, rj := range rep.Rejected {
		rejected[i] = map[string]any{"index": rj.Index, "resource": rj.Resource, "reason": rj.Reason}
	}
	unknown := make([]map[string]any, len(rep.UnknownKeys))
	for i, u := range rep.UnknownKeys {
		unknown[i] = map[string]any{"index": u.Index, "key": u.Key}
	}
	notes := rep.Notes
	if notes == nil {
		notes = []string{}
	}
	return map[string]any{
		"format": rep.Format, "total": rep.Total, "accepted": rep.Accepted,
		"rejected": rejected, "unknownKeys": unknown, "notes": notes, "summary": rep.String(),
	}
}

// status shows the datasource's Status: the revision and count of the rules in
// force, and, while the file holds something that cannot be applied, its
// revision and error.
func (s *server) status(w http.ResponseWriter, _ *http.Request) {
	st := s.rules.Status()
	out := map[string]any{
		"name": st.Name, "revision": st.Revision, "exists": st.Exists, "rules": st.RuleCount,
		"rejected": st.Rejected, "cleared": st.Cleared, "health": st.Health.String(), "lastSuccess": st.LastSuccess,
		"latestRevision": st.LatestRevision,
	}
	if st.LatestError != nil {
		out["latestError"] = st.LatestError.Error()
	}
	if st.LastError != nil {
		out["lastError"] = st.LastError.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// writeJSON answers v as indented JSON, leaving <, > and & as they are
// (resource names and messages hold them; this is not HTML).
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
