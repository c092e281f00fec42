package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine"
	"github.com/rulesync/rulesync/ruleapply"
)

// msgSuccess is what the dashboard wants to read after a change.
const msgSuccess = "success"

// writeTimeout bounds a write to the config center: the dashboard waits 5 s
// for a flow rule change before it gives up, and an answer that arrives
// after that is lost.
const writeTimeout = 4 * time.Second

// setRulesTypes are the rule types of getRules and setRules, by the name the
// dashboard gives them.
var setRulesTypes = map[string]ruleapply.RuleType{
	"flow":      ruleapply.Flow,
	"degrade":   ruleapply.Degrade,
	"system":    ruleapply.System,
	"authority": ruleapply.Authority,
}

// typeOf returns the rule type named by the request's type parameter,
// compared without case as Java does.
func typeOf(r *request) (ruleapply.RuleType, bool) {
	rt, ok := setRulesTypes[strings.ToLower(r.params["type"])]
	return rt, ok
}

// seenTable remembers, per client address and rule type, the
// compare-and-set token of the rules the client last read or wrote: a set
// command stores the client's list only if the rules in force are still
// those, so that a change made meanwhile by someone else is reported, not
// overwritten.
type seenTable struct {
	mu sync.Mutex
	m  map[seenKey]string
}

type seenKey struct {
	client netip.Addr
	family engine.Family
}

// maxSeen bounds the table; clients past it evict an arbitrary one.
const maxSeen = 4096

func (s *seenTable) set(client netip.Addr, f engine.Family, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[seenKey]string{}
	}
	k := seenKey{client, f}
	if _, ok := s.m[k]; !ok && len(s.m) >= maxSeen {
		for old := range s.m {
			delete(s.m, old)
			break
		}
	}
	s.m[k] = token
}

func (s *seenTable) get(client netip.Addr, f engine.Family) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[seenKey{client, f}]
	return t, ok
}

// binding returns the binding of rt, if the app has one.
func (a *Agent) binding(rt ruleapply.RuleType) (ruleapply.Binding, bool) {
	if a.cfg.app == nil {
		return nil, false
	}
	return a.cfg.app.Binding(rt.Name())
}

// getRules answers the rules of rt in force, as a JSON array in Sentinel's
// format, and remembers what the client saw.
func (a *Agent) getRules(rt ruleapply.RuleType, r *request) response {
	var v any
	if b, ok := a.binding(rt); ok {
		var token string
		v, token = b.Current()
		a.seen.set(r.client, rt.Name(), token)
	} else {
		v = rt.CurrentAny(a.e)
	}
	body, err := encodeCompact(rt, v)
	if err != nil {
		return failure(http.StatusInternalServerError, fmt.Sprintf("cannot encode the %s rules: %v", rt.Name(), err))
	}
	return ok(body)
}

func encodeCompact(rt ruleapply.RuleType, v any) (string, error) {
	data, err := rt.AnyCodec().Encode(v)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// setRules stores the client's whole list of rt's rules, as the dashboard
// sends it after each change.
func (a *Agent) setRules(rt ruleapply.RuleType, r *request) response {
	data, present := r.params["data"]
	if !present {
		// Java clears the rules when data is missing; nothing in the
		// dashboard sends that, and with write-back it would clear them
		// for every instance.
		return failure(http.StatusBadRequest, "data is missing: send the whole list of rules ([] to clear them)")
	}
	v, rep, err := rt.AnyCodec().Decode([]byte(data))
	if err != nil {
		return failure(http.StatusBadRequest, fmt.Sprintf("cannot read the %s rules: %v", rt.Name(), err))
	}
	if len(rep.Rejected) > 0 {
		return failure(http.StatusBadRequest, fmt.Sprintf("nothing stored: %s", rejections(rep)))
	}
	merge := families[rt.Name()]
	floor := a.cfg.now().UnixMilli()
	log := a.log.With("client", r.client.String(), "type", string(rt.Name()))

	b, bound := a.binding(rt)
	if !bound {
		if a.cfg.unbound == Refuse {
			log.Warn("dashboard: change refused: no datasource for this rule type")
			return failure(http.StatusNotImplemented, fmt.Sprintf("nothing stored: this application has no writable datasource for %s rules, and applies changes only through one (dashboard.WithUnbound)", rt.Name()))
		}
		merged, ch, err := merge(rt.CurrentAny(a.e), v, floor)
		if err != nil {
			return failure(http.StatusInternalServerError, err.Error())
		}
		lr, err := rt.LoadAny(a.e, merged)
		if err != nil {
			return failure(http.StatusInternalServerError, err.Error())
		}
		log.Warn("dashboard: rules applied in memory only (no datasource: lost on restart, other instances unchanged)", "changes", ch.String(), "loaded", lr.Loaded, "rejected", len(lr.Rejected))
		return ok(msgSuccess)
	}

	cur, token := b.Current()
	if a.cfg.requireRead {
		seen, ok := a.seen.get(r.client, rt.Name())
		switch {
		case !ok:
			log.Warn("dashboard: change refused: the client has not read these rules")
			return failure(http.StatusConflict, fmt.Sprintf("nothing stored: this client has not read the %s rules of this instance yet; reload the rules page and make the change again", rt.Name()))
		case seen != token:
			log.Warn("dashboard: change refused: the rules changed since the client read them", "read", seen, "in_force", token)
			return failure(http.StatusConflict, fmt.Sprintf("nothing stored: the %s rules changed since this client read them (revision %q, now %q); reload the rules page and make the change again", rt.Name(), seen, token))
		}
	}
	merged, ch, err := merge(cur, v, floor)
	if err != nil {
		return failure(http.StatusInternalServerError, err.Error())
	}
	if a.cfg.maxRemoved > 0 && ch.Removed > a.cfg.maxRemoved {
		log.Warn("dashboard: change refused: it removes too many rules", "changes", ch.String(), "max_removed", a.cfg.maxRemoved)
		return failure(http.StatusConflict, fmt.Sprintf("nothing stored: this change removes %d %s rules at once (%s), more than %d: the client's list does not hold the rules in force (did the dashboard restart?); reload the rules page and make the change again", ch.Removed, rt.Name(), ch, a.cfg.maxRemoved))
	}
	if ch.Added == 0 && ch.Removed == 0 && ch.Edited == 0 {
		log.Info("dashboard: change is a no-op; nothing written", "revision", token)
		return ok(msgSuccess)
	}
	ctx, cancel := context.WithTimeout(r.ctx, writeTimeout)
	defer cancel()
	rev, err := b.WriteIf(ctx, merged, token)
	if err != nil {
		status := writeStatus(err)
		log.Warn("dashboard: change not stored", "changes", ch.String(), "expected", token, "status", status, "err", err)
		return failure(status, "nothing stored: "+err.Error())
	}
	a.seen.set(r.client, rt.Name(), rev)
	log.Info("dashboard: rules written", "datasource", b.Name(), "changes", ch.String(), "from_revision", token, "revision", rev)
	return ok(msgSuccess)
}

// writeStatus is the answer to a write that failed. Any 2xx would read as
// success to the dashboard.
func writeStatus(err error) int {
	switch {
	case errors.Is(err, datasource.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, datasource.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, datasource.ErrNotWritable):
		return http.StatusNotImplemented
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusServiceUnavailable
}

func rejections(rep codec.Report) string {
	parts := make([]string, len(rep.Rejected))
	for i, rj := range rep.Rejected {
		parts[i] = rj.String()
	}
	return strings.Join(parts, "; ")
}
