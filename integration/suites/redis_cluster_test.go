package suites

import "testing"

// TestRedisClusterKeyNodeRestartIsNoticed: in a Redis Cluster the node
// holding the key restarts empty (no persistence) while the source's
// subscription, on the node owning the channel's slot, stays up. Nothing is
// published, so only the source's periodic re-read of the key (each silent
// health-check period) can notice; the rules must then be cleared, as a
// standalone or Sentinel source clears them when its subscription drops.
func TestRedisClusterKeyNodeRestartIsNoticed(t *testing.T) {
	f := newRedisClusterFixture(t, "key-node-restart").(*redisFixture)
	f.Put(t, rulesJSON("first"))
	r := startRig(t, f.Source(t))
	r.waitResources(t, "first")
	// A published change that arrives proves the subscription is up, so the
	// restart below cannot race with the source's first re-read.
	f.Put(t, rulesJSON("stored"))
	r.waitResources(t, "stored")

	if err := f.Server().Kill(); err != nil {
		t.Fatal(err)
	}
	if err := f.Server().Restart(); err != nil {
		t.Fatal(err)
	}
	f.AfterRestart(t)
	if snap, err := f.Source(t).Read(opCtx(t)); err != nil || snap.Exists {
		t.Fatalf("after the restart the key exists=%v (%v), want it gone", snap.Exists, err)
	}
	r.waitResources(t)
}
