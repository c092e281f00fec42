package main

import (
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

	"github.com/rulesync/rulesync/converter"
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
}

// server is the quickstart service: one protected endpoint and an admin API
// over the flow rules, which live in a file watched by a datasource.
type server struct {
	engine *engine.Engine
	rules  *datasource.DataSource[[]flow.Rule]
	codec  converter.Codec[[]flow.Rule]
	unbind func()
	log    *slog.Logger
	prom   *prometheus.Registry
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
	observe := func(ev datasource.Event) {
		switch ev.Kind {
		case datasource.Unreadable:
			cfg.logger.Error("rules file unreadable; the previous limits stay in force", "revision", ev.Revision, "err", ev.Err)
		case datasource.Rejected:
			cfg.logger.Warn("some rules were rejected; the others apply", "report", ev.Report.String())
		case datasource.Loaded, datasource.Updated:
			cfg.logger.Info("flow rules applied", "event", ev.Kind.String(), "revision", short(ev.Revision), "report", ev.Report.String())
		case datasource.Deleted:
			cfg.logger.Warn("rules file deleted; flow rules cleared")
		}
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
	if err := ds.Start(ctx); err != nil {
		unbind()
		ds.Close()
		e.Close()
		return nil, err
	}
	return &server{engine: e, rules: ds, codec: codec, unbind: unbind, log: cfg.logger, prom: reg}, nil
}

func (s *server) Close() error {
	s.unbind()
	err := s.rules.Close()
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
// the revision to send back in If-Match.
func (s *server) getRules(w http.ResponseWriter, _ *http.Request) {
	rules, _ := s.rules.Property().Get()
	body, err := s.codec.Encode(rules)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("ETag", `"`+s.rules.Status().Revision+`"`)
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// putRules replaces the rules through the datasource with compare-and-set:
// If-Match must carry the revision the client read ("*" overwrites), and a
// stale one is answered with 409 Conflict instead of a silent overwrite.
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
	rules, rep, err := s.codec.Decode(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if len(rep.Rejected) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "some rules are invalid; nothing was written", "report": rep.String()})
		return
	}
	if match != "*" && match != s.rules.Status().Revision {
		writeJSON(w, http.StatusConflict, map[string]string{"error": "the rules changed since you read them; GET them again", "revision": s.rules.Status().Revision})
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
		writeJSON(w, http.StatusOK, map[string]any{"applied": len(rules)})
	}
}

func (s *server) status(w http.ResponseWriter, _ *http.Request) {
	st := s.rules.Status()
	out := map[string]any{
		"name": st.Name, "revision": st.Revision, "exists": st.Exists, "rules": st.RuleCount,
		"rejected": st.Rejected, "health": st.Health.String(), "lastSuccess": st.LastSuccess,
	}
	if st.LastError != nil {
		out["lastError"] = st.LastError.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
