package suites

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/engine/flow"
	"github.com/rulesync/rulesync/integration/harness"
	"github.com/rulesync/rulesync/sources/redis/redistest"
)

// failoverHealth is the sources' health-check period in the failover test:
// short, so that a connection that died silently would be noticed within a
// second rather than the default 15 s.
const failoverHealth = 500 * time.Millisecond

// failoverDeadline bounds how long the sentinel may take to promote the
// replica once the master is dead: down-after (1 s), up to 1 s of election
// desync and the promotion itself take a few seconds; the rest is slack for
// a loaded machine.
const failoverDeadline = 30 * time.Second

// A real Sentinel failover: the master is SIGKILLed for good and the sentinel
// promotes its replica. Two datasources on sources/redis, each on its own
// failover client, must follow by themselves: keep the rules written before
// (the replica had them), then watch the new master (each sees what the other
// writes, and what a Java app publishes there) and write to it with
// compare-and-set (Write and Update).
func TestRedisSentinelFailover(t *testing.T) {
	s := harness.RedisSentinel(t, harness.WithReplica())
	f := &redisFixture{
		srv:     s.Master,
		client:  func(t testing.TB) goredis.UniversalClient { return redistest.FailoverClient(t, s) },
		key:     "sentinel:failover-flow-rules",
		channel: "sentinel:failover-flow-rules:channel",
		log:     slog.New(slog.DiscardHandler),
		health:  failoverHealth,
	}
	ctx := opCtx(t)
	a := startRig(t, f.Source(t))
	b := startRig(t, f.Source(t))

	// Before the failover: a writes (compare-and-set against the missing
	// key), b sees it through the master's channel.
	if err := a.ds.Write(ctx, []flow.Rule{blockRule("before")}); err != nil {
		t.Fatalf("write before the failover: %v", err)
	}
	a.waitResources(t, "before")
	b.waitResources(t, "before")
	stored, err := redistest.Client(t, s.Master).Get(ctx, f.key).Bytes()
	if err != nil {
		t.Fatalf("master: get %s: %v", f.key, err)
	}
	// Killed before the replica had the rules, the master would take them
	// along: wait until the replica holds exactly what the master stored.
	replica := redistest.Client(t, s.Replica)
	waitUntil(t, converge, "the replica "+s.Replica.Addr+" to receive the rules written on the master",
		func() (bool, string) {
			got, err := replica.Get(ctx, f.key).Bytes()
			return err == nil && bytes.Equal(got, stored), fmt.Sprintf("replica holds %q (%v)", got, err)
		})

	killed := time.Now()
	if err := s.Master.Kill(); err != nil {
		t.Fatalf("kill master: %v", err)
	}
	fctx, cancel := context.WithTimeout(ctx, failoverDeadline)
	defer cancel()
	if err := s.WaitMaster(fctx, s.Replica); err != nil {
		t.Fatalf("sentinel did not promote the replica within %s of the master's death: %v\n%s", failoverDeadline, err, s.Sentinel.Logs())
	}
	t.Logf("sentinel promoted %s %s after the kill", s.Replica.Addr, time.Since(killed).Round(time.Millisecond))

	// Both datasources lost their subscription with the master; each must
	// read the key again from the new master (a Reconnected event after the
	// kill: the old master is gone, so only the promoted replica can have
	// answered) and still hold the rules written before.
	reconnected := func(name string, r *rig) {
		t.Helper()
		ev := r.waitEventSince(t, "datasource "+name+" to read the key again after the master's kill", datasource.Reconnected, killed)
		if want := datasource.ContentRevision(stored); ev.Revision != want {
			t.Fatalf("datasource %s reconnected at revision %s, want %s: the rules written before the failover were lost", name, ev.Revision, want)
		}
		r.waitResources(t, "before")
		if !r.blocked(t, "before") {
			t.Fatalf("datasource %s: rule written before the failover no longer enforced", name)
		}
	}
	reconnected("a", a)
	reconnected("b", b)
	// Watching moved too, not only reads: both subscriptions are now on the
	// promoted replica, so what follows arrives as messages, not only through
	// the periodic re-read.
	waitUntil(t, converge, "both sources to subscribe on the promoted replica", func() (bool, string) {
		n, err := subscribers(ctx, replica, f.channel)
		return err == nil && n == 2, fmt.Sprintf("%s has %d subscribers on %s (%v)", s.Replica.Addr, n, f.channel, err)
	})

	// Write: compare-and-set against the revision a last saw, on the new
	// master; b must see it through the new master's channel.
	if err := a.ds.Write(ctx, []flow.Rule{blockRule("before"), blockRule("written")}); err != nil {
		t.Fatalf("write after the failover: %v", err)
	}
	a.waitResources(t, "before", "written")
	b.waitResources(t, "before", "written")

	// Update: read-modify-write from b, fresh from the new master; a must see it.
	err = datasource.Update(ctx, b.ds, func(cur []flow.Rule) ([]flow.Rule, error) {
		if got := resourcesOf(cur); !slices.Equal(got, []string{"before", "written"}) {
			t.Errorf("update after the failover read %v from the new master, want [before written]", got)
		}
		return append(slices.Clone(cur), blockRule("updated")), nil
	})
	if err != nil {
		t.Fatalf("update after the failover: %v", err)
	}
	a.waitResources(t, "before", "updated", "written")
	b.waitResources(t, "before", "updated", "written")

	// The Java way, through a client created after the failover.
	java := rulesJSON("java")
	javaPut(t, redistest.FailoverClient(t, s), f.key, f.channel, java)
	javaSeen := func(name string, r *rig) {
		t.Helper()
		r.waitResources(t, "java")
		if !r.blocked(t, "java") || r.blocked(t, "before") {
			t.Fatalf("datasource %s: engine does not enforce exactly the rule published the Java way", name)
		}
		if st := r.ds.Status(); st.Health != datasource.HealthWatching || st.LastError != nil {
			t.Fatalf("datasource %s: status %+v, want watching without error", name, st)
		}
	}
	javaSeen("a", a)
	javaSeen("b", b)
	// And all of it went to the promoted replica, not to some other server.
	if got, err := replica.Get(ctx, f.key).Bytes(); err != nil || !bytes.Equal(got, java) {
		t.Fatalf("promoted replica holds %q (%v), want the Java payload", got, err)
	}
}

// TestRedisSentinelGracefulFailoverMovesSubscription: after a Sentinel
// failover in which the old master survives (SENTINEL FAILOVER, or a master
// cut off from the sentinels but not from clients), go-redis's failover
// client moves its command connections on +switch-master but not an open
// pub/sub connection, so a Watch would stay subscribed on the old master,
// which hears no more PUBLISHes. The source's probe of a silent subscription
// (published through the command connections, hence on the new master) does
// not come back, Watch ends, and the sync loop subscribes on the new master:
// within about two health-check periods the change published on the new
// master is enforced and the subscription has moved.
func TestRedisSentinelGracefulFailoverMovesSubscription(t *testing.T) {
	s := harness.RedisSentinel(t, harness.WithReplica())
	f := &redisFixture{
		srv:     s.Master,
		client:  func(t testing.TB) goredis.UniversalClient { return redistest.FailoverClient(t, s) },
		key:     "sentinel:graceful-flow-rules",
		channel: "sentinel:graceful-flow-rules:channel",
		log:     slog.New(slog.DiscardHandler),
		health:  time.Second,
	}
	ctx := opCtx(t)
	r := startRig(t, f.Source(t))
	javaPut(t, redistest.FailoverClient(t, s), f.key, f.channel, rulesJSON("before"))
	r.waitResources(t, "before")

	if err := redistest.SentinelClient(t, s).Failover(ctx, s.MasterName).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	fctx, cancel := context.WithTimeout(ctx, failoverDeadline)
	defer cancel()
	if err := s.WaitMaster(fctx, s.Replica); err != nil {
		t.Fatalf("sentinel did not promote the replica: %v\n%s", err, s.Sentinel.Logs())
	}
	javaPut(t, redistest.FailoverClient(t, s), f.key, f.channel, rulesJSON("after"))
	// Two health-check periods (a silent one, then one for the probe to come
	// back) plus the sync loop's first backoff, well below the sentinel's 10 s
	// INFO period that would otherwise demote the old master.
	oldMaster, newMaster := redistest.Client(t, s.Master), redistest.Client(t, s.Replica)
	waitUntil(t, 5*time.Second, "a change published on the new master to reach the engine, and the subscription to move there", func() (bool, string) {
		onNew, _ := subscribers(ctx, newMaster, f.channel)
		if slices.Equal(r.resources(), []string{"after"}) && onNew == 1 {
			return true, ""
		}
		onOld, errOld := subscribers(ctx, oldMaster, f.channel)
		onNew, errNew := subscribers(ctx, newMaster, f.channel)
		return false, fmt.Sprintf("engine enforces %v; subscribers on %s: old master %d (%v), new master %d (%v)",
			r.resources(), f.channel, onOld, errOld, onNew, errNew)
	})
}

// subscribers returns how many clients of c's server subscribe to channel.
func subscribers(ctx context.Context, c *goredis.Client, channel string) (int64, error) {
	m, err := c.PubSubNumSub(ctx, channel).Result()
	return m[channel], err
}

// blockRule is a QPS rule of count 0 (block everything) on resource.
func blockRule(resource string) flow.Rule {
	r := flow.DefaultRule()
	r.Resource, r.Count = resource, 0
	return r
}

func resourcesOf(rules []flow.Rule) []string {
	res := make([]string, 0, len(rules))
	for _, r := range rules {
		res = append(res, r.Resource)
	}
	slices.Sort(res)
	return res
}

// javaPut stores data the way Java Sentinel's RedisDataSource documentation
// prescribes, in raw commands on one connection: MULTI, SET, PUBLISH, EXEC.
func javaPut(t testing.TB, c *goredis.Client, key, channel string, data []byte) {
	t.Helper()
	ctx := opCtx(t)
	conn := c.Conn()
	defer conn.Close()
	for _, cmd := range [][]any{
		{"MULTI"},
		{"SET", key, data},
		{"PUBLISH", channel, data},
		{"EXEC"},
	} {
		if err := conn.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("java put: %v: %v", cmd[0], err)
		}
	}
}

// waitEventSince waits for an event of kind emitted at or after since; what
// names the wait in the failure message.
func (r *rig) waitEventSince(t testing.TB, what string, kind datasource.EventKind, since time.Time) datasource.Event {
	t.Helper()
	var ev *datasource.Event
	waitUntil(t, converge, what+" (a "+kind.String()+" event)", func() (bool, string) {
		r.mu.Lock()
		for i := range r.events {
			if e := r.events[i]; e.Kind == kind && !e.Time.Before(since) {
				ev = &e
				break
			}
		}
		r.mu.Unlock()
		// Status outside r.mu: the observer takes r.mu from inside the datasource.
		return ev != nil, fmt.Sprintf("status %+v", r.ds.Status())
	})
	return *ev
}

// waitUntil polls cond until it holds, failing t after d with what and cond's
// last description of the state.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; %s", d, what, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
