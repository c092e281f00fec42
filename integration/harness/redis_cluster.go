package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// clusterSlots is the number of hash slots in a Redis Cluster.
const clusterSlots = 16384

// clusterMasters is how many masters RedisCluster runs: the fewest with which
// a cluster keeps a majority of masters, and so keeps serving, while one of
// them is down for less than the node timeout.
const clusterMasters = 3

// clusterNodeTimeout (ms) is how long a node may be unreachable before the
// others flag it as failing. Redis's default is 15 s; a short one keeps fault
// tests that outlast it quick, and a Kill followed at once by Restart stays
// well under it, so the rest of the cluster never declares the node failed.
const clusterNodeTimeout = 2000

// RedisClusterServer is a running Redis Cluster of three masters without
// replicas, for one test. It always runs the local redis-server binary, even
// where the harness would use Docker: cluster nodes announce their own
// addresses, which inside containers would not be the published loopback
// ports. Passwords (WithPassword) apply to every node; WithPersistence gives
// every node an append-only file.
type RedisClusterServer struct {
	// Nodes are the masters; node i serves the i-th third of the slots.
	Nodes []*RedisServer
	// Addrs are the nodes' host:port, in the order of Nodes: the seeds for a
	// cluster client.
	Addrs []string
	// Password is the requirepass of every node, "" when the cluster is open.
	Password string

	busPorts []int // cluster bus port of each node, for CLUSTER MEET
}

// RedisCluster starts a three-master Redis Cluster for t, covering all 16384
// slots, and stops it when t ends. It returns once every node reports
// cluster_state:ok, sees the other two as connected and serves all slots. It
// skips t when redis-server is missing (fails it with RULESYNC_REQUIRE_SERVERS=1).
func RedisCluster(t testing.TB, opts ...Option) *RedisClusterServer {
	t.Helper()
	cfg := newConfig(opts)
	c := &RedisClusterServer{Password: cfg.password}
	for range clusterMasters {
		var bus int
		n := start(t, "redis cluster", func(string) (*RedisServer, error) {
			ports, err := freePorts(2)
			if err != nil {
				return nil, err
			}
			bus = ports[1]
			s := &RedisServer{Addr: loopback(ports[0]), Password: cfg.password}
			s.name = "redis cluster node " + s.Addr
			extra := []string{
				"cluster-enabled yes",
				// Relative to the node's own directory: the node ID and slot
				// map survive Restart, as they do on a real node.
				"cluster-config-file nodes.conf",
				// Set explicitly: the default (port+10000) is not reserved
				// and may not even be a valid port.
				fmt.Sprintf("cluster-port %d", bus),
				fmt.Sprintf("cluster-node-timeout %d", clusterNodeTimeout),
			}
			if cfg.password != "" {
				// Only used by replicas; set so that the config is complete
				// should replicas be added.
				extra = append(extra, "masterauth "+redisQuote(cfg.password))
			}
			return newLocalRedis(t, s, ports[0], cfg, extra...)
		})
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
		c.busPorts = append(c.busPorts, bus)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := c.form(ctx); err != nil {
		t.Fatalf("harness: form redis cluster: %v\n%s", err, c.logs())
	}
	return c
}

// form assigns each node a third of the slots, introduces every pair of
// nodes and waits until the cluster is healthy. Meeting node 0 alone would
// do, gossip spreads the rest, but then the nodes sometimes count themselves
// in a minority while they learn of each other and hold back for another
// node timeout: forming took 2.2 to 4.4 s, against a steady 2.25 s this way
// (the floor is Redis's fixed 2 s delay before a new master serves).
func (c *RedisClusterServer) form(ctx context.Context) error {
	for i, n := range c.Nodes {
		lo, hi := i*clusterSlots/len(c.Nodes), (i+1)*clusterSlots/len(c.Nodes)-1
		if err := c.do(ctx, n, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			return fmt.Errorf("%s: add slots %d-%d: %w", n.Addr, lo, hi, err)
		}
	}
	for i, a := range c.Nodes {
		for j, b := range c.Nodes[i+1:] {
			host, port, err := net.SplitHostPort(b.Addr)
			if err != nil {
				return err
			}
			// The bus port must be given: MEET assumes port+10000 otherwise.
			if err := c.do(ctx, a, "CLUSTER", "MEET", host, port, strconv.Itoa(c.busPorts[i+1+j])); err != nil {
				return fmt.Errorf("%s: meet %s: %w", a.Addr, b.Addr, err)
			}
		}
	}
	return c.WaitHealthy(ctx)
}

// do runs one command on node n over a connection of its own.
func (c *RedisClusterServer) do(ctx context.Context, n *RedisServer, args ...string) error {
	_, err := redisDo(ctx, n.Addr, n.Password, args...)
	return err
}

// WaitHealthy waits until every node reports cluster_state:ok, serves all
// slots and has a live link to each other node with none flagged failing, or
// until ctx ends. Call it after restarting a node: a restarted master refuses
// commands (CLUSTERDOWN) for two seconds, and messages it publishes reach
// subscribers on the other nodes only over its cluster bus links, which it
// has to reopen first.
func (c *RedisClusterServer) WaitHealthy(ctx context.Context) error {
	err := waitReady(ctx, c.healthy, c.allRunning)
	if errors.Is(err, errExited) {
		return errors.New("harness: a redis cluster node is not running")
	}
	return err
}

func (c *RedisClusterServer) allRunning() bool {
	for _, n := range c.Nodes {
		if !n.alive() {
			return false
		}
	}
	return true
}

// healthy checks every node's own view of the cluster.
func (c *RedisClusterServer) healthy(ctx context.Context) error {
	for _, n := range c.Nodes {
		if err := c.nodeHealthy(ctx, n); err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
	}
	return nil
}

func (c *RedisClusterServer) nodeHealthy(ctx context.Context, n *RedisServer) error {
	cl, err := dialRedis(ctx, n.Addr, n.Password)
	if err != nil {
		return err
	}
	defer cl.close()
	info, err := cl.do("CLUSTER", "INFO")
	if err != nil {
		return err
	}
	if s, _ := info.(string); !strings.Contains(s, "cluster_state:ok") {
		return errors.New("cluster_state is not ok")
	}
	slots, err := clusterSlotRanges(cl)
	if err != nil {
		return err
	}
	if err := coverAll(slots); err != nil {
		return err
	}
	v, err := cl.do("CLUSTER", "NODES")
	if err != nil {
		return err
	}
	nodes, err := replyString(v)
	if err != nil {
		return fmt.Errorf("CLUSTER NODES: %w", err)
	}
	return allLinked(nodes, len(c.Nodes))
}

// slotRange is one entry of CLUSTER SLOTS: slots start to end (inclusive),
// served by addrs[0], the master, and copied to the replicas that follow.
type slotRange struct {
	start, end int64
	addrs      []string
}

// clusterSlotRanges asks for CLUSTER SLOTS. Each entry is
// [start, end, [ip, port, id, ...], ...]; only the addresses matter here.
func clusterSlotRanges(c *respConn) ([]slotRange, error) {
	v, err := c.do("CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	entries, err := replyArray(v)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	ranges := make([]slotRange, 0, len(entries))
	for _, e := range entries {
		r, err := parseSlotRange(e)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
		}
		ranges = append(ranges, r)
	}
	return ranges, nil
}

func parseSlotRange(v any) (slotRange, error) {
	var r slotRange
	f, err := replyArray(v)
	if err != nil {
		return r, err
	}
	if len(f) < 2 {
		return r, fmt.Errorf("%w: slot range of %d elements", errProtocol, len(f))
	}
	if r.start, err = replyInt(f[0]); err != nil {
		return r, err
	}
	if r.end, err = replyInt(f[1]); err != nil {
		return r, err
	}
	for _, n := range f[2:] {
		node, err := replyArray(n)
		if err != nil {
			return r, err
		}
		if len(node) < 2 {
			return r, fmt.Errorf("%w: slot node of %d elements", errProtocol, len(node))
		}
		ip, err := replyString(node[0])
		if err != nil {
			return r, err
		}
		port, err := replyInt(node[1])
		if err != nil {
			return r, err
		}
		r.addrs = append(r.addrs, net.JoinHostPort(ip, strconv.FormatInt(port, 10)))
	}
	return r, nil
}

// coverAll checks that the ranges of CLUSTER SLOTS serve every slot once.
func coverAll(slots []slotRange) error {
	var seen [clusterSlots]bool
	for _, r := range slots {
		if len(r.addrs) == 0 {
			return fmt.Errorf("slots %d-%d have no node", r.start, r.end)
		}
		for s := max(r.start, 0); s <= r.end && s < clusterSlots; s++ {
			seen[s] = true
		}
	}
	for s, ok := range seen {
		if !ok {
			return fmt.Errorf("slot %d is not served", s)
		}
	}
	return nil
}

// allLinked checks a CLUSTER NODES answer: want nodes, none failing, being
// introduced or without an address, each link connected.
func allLinked(nodes string, want int) error {
	lines := strings.Split(strings.TrimSpace(nodes), "\n")
	if len(lines) != want {
		return fmt.Errorf("knows %d nodes, want %d", len(lines), want)
	}
	for _, line := range lines {
		// <id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv> <epoch> <link-state> <slot>...
		f := strings.Fields(line)
		if len(f) < 8 {
			return fmt.Errorf("unexpected CLUSTER NODES line %q", line)
		}
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "fail", "fail?", "handshake", "noaddr":
				return fmt.Errorf("node %s is flagged %s", f[1], flag)
			}
		}
		if f[7] != "connected" {
			return fmt.Errorf("link to node %s is %s", f[1], f[7])
		}
	}
	return nil
}

// NodeForKey returns the node whose slots hold key, as the cluster itself
// reports it (CLUSTER KEYSLOT, CLUSTER SLOTS, asked of the first node that
// answers), so that a fault test can kill exactly that node.
func (c *RedisClusterServer) NodeForKey(ctx context.Context, key string) (*RedisServer, error) {
	var errs []error
	for _, n := range c.Nodes {
		owner, err := c.ownerAsSeenBy(ctx, n, key)
		if err == nil {
			return owner, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.Addr, err))
	}
	return nil, fmt.Errorf("harness: no node for key %q: %w", key, errors.Join(errs...))
}

func (c *RedisClusterServer) ownerAsSeenBy(ctx context.Context, n *RedisServer, key string) (*RedisServer, error) {
	cl, err := dialRedis(ctx, n.Addr, n.Password)
	if err != nil {
		return nil, err
	}
	defer cl.close()
	v, err := cl.do("CLUSTER", "KEYSLOT", key)
	if err != nil {
		return nil, err
	}
	slot, err := replyInt(v)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER KEYSLOT: %w", err)
	}
	ranges, err := clusterSlotRanges(cl)
	if err != nil {
		return nil, err
	}
	for _, r := range ranges {
		if r.start > slot || slot > r.end || len(r.addrs) == 0 {
			continue
		}
		for _, node := range c.Nodes {
			if node.Addr == r.addrs[0] {
				return node, nil
			}
		}
		return nil, fmt.Errorf("slot %d is served by %s, not a harness node", slot, r.addrs[0])
	}
	return nil, fmt.Errorf("slot %d is not served", slot)
}

// logs gathers the tail of every node's output for failure messages.
func (c *RedisClusterServer) logs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "--- %s\n%s\n", n.name, tail(n.Logs(), 1500))
	}
	return b.String()
}
