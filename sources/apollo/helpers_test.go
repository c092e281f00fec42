package apollo_test

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rulesync/rulesync/converter"
	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/apollo"
)

// converge bounds how long a change may take to reach a datasource: a
// deadline for a loaded machine, not a measurement.
const converge = 20 * time.Second

const cluster, namespace = "default", "application"

// editor is a server whose items tests change the way a portal user does:
// edit, then release.
type editor interface {
	harness.Server
	Set(app, cluster, ns, key, value string) error
	Delete(app, cluster, ns, key string) error
	Release(app, cluster, ns string) error
}

// backend is one server the read-side tests run against.
type backend struct {
	name string
	srv  editor
	cfg  apollo.Config // ConfigServer (and, for the protocol server, the portal)
}

// readBackends lists the servers of the read-side tests: apollo-mock-server
// (npm; skipped when not installed) and the project's Apollo-protocol test
// server.
var readBackends = []struct {
	name string
	new  func(t *testing.T) backend
}{
	{"apollo-mock-server", func(t *testing.T) backend {
		srv := harness.ApolloMock(t)
		return backend{"apollo-mock-server", srv, apollo.Config{ConfigServer: srv.URL}}
	}},
	{"apollo-protocol", func(t *testing.T) backend { return protocolBackend(t) }},
}

func protocolBackend(t *testing.T, opts ...harness.ApolloProtocolOption) backend {
	srv := harness.ApolloProtocol(t, opts...)
	return backend{"apollo-protocol", srv, apollo.Config{ConfigServer: srv.URL, Portal: srv.URL, Token: srv.Token}}
}

func forEachReadBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, rb := range readBackends {
		t.Run(rb.name, func(t *testing.T) { fn(t, rb.new(t)) })
	}
}

// appOf names an app per test, so that tests never share a namespace.
func appOf(t testing.TB) string {
	return strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
}

// put edits key and releases the namespace.
func put(t testing.TB, srv editor, app, key, value string) {
	t.Helper()
	if err := srv.Set(app, cluster, namespace, key, value); err != nil {
		t.Fatal(err)
	}
	if err := srv.Release(app, cluster, namespace); err != nil {
		t.Fatal(err)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// open opens a source on b for app and key, closed with t.
func open(t testing.TB, b backend, app, key string, mod ...func(*apollo.Config)) *apollo.Source {
	t.Helper()
	cfg := b.cfg
	cfg.AppID, cfg.Key = app, key
	for _, m := range mod {
		m(&cfg)
	}
	s, err := apollo.Open(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rig is a datasource of flow rules with the events it emitted.
type rig struct {
	ds     *datasource.DataSource[[]flow.Rule]
	mu     sync.Mutex
	events []datasource.Event
}

func startRig(t testing.TB, src datasource.Source, opts ...datasource.Option) *rig {
	t.Helper()
	r := &rig{}
	opts = append([]datasource.Option{
		datasource.WithBackoff(10*time.Millisecond, 500*time.Millisecond),
		datasource.WithObserver(datasource.ObserverFunc(func(ev datasource.Event) {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		})),
	}, opts...)
	r.ds = datasource.New(src, converter.Flow(), opts...)
	t.Cleanup(func() { r.ds.Close() })
	if err := r.ds.Start(ctxT(t)); err != nil {
		t.Fatalf("start: %v", err)
	}
	return r
}

func (r *rig) resources() []string {
	var res []string
	v, _ := r.ds.Property().Get()
	for _, rule := range v {
		res = append(res, rule.Resource)
	}
	slices.Sort(res)
	return res
}

func (r *rig) waitResources(t testing.TB, want ...string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	for deadline := time.Now().Add(converge); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if slices.Equal(r.resources(), want) {
			return
		}
	}
	t.Fatalf("datasource holds %v, want %v (status %+v)", r.resources(), want, r.ds.Status())
}

func (r *rig) waitEvent(t testing.TB, kind datasource.EventKind) datasource.Event {
	t.Helper()
	for deadline := time.Now().Add(converge); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		for _, ev := range r.events {
			if ev.Kind == kind {
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
	}
	t.Fatalf("no %v event (status %+v)", kind, r.ds.Status())
	return datasource.Event{}
}

func (r *rig) allEvents() []datasource.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// rules is a flow-rule payload with one rule per resource.
func rules(resources ...string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range resources {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"resource":"` + r + `","count":0}`)
	}
	b.WriteString("]")
	return b.String()
}

// sourceGoroutines returns the stacks of goroutines running agollo's or this
// package's code.
func sourceGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "apolloconfig/agollo") || strings.Contains(g, "rulesync/sources/apollo.") {
			out = append(out, g)
		}
	}
	return out
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
