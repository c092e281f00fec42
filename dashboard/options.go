package dashboard

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/rulesync/rulesync/ruleapply"
)

// AppType is what the dashboard shows an application as.
type AppType int

// Application types, with Sentinel's numbers.
const (
	AppNormal  AppType = 0
	AppGateway AppType = 1 // the dashboard shows the gateway pages; gateway commands are served
)

// Unbound says what a set command does for a rule type that no writable
// datasource backs (no binding in the ruleapply.App given to WithRules).
type Unbound int

const (
	// Refuse answers an error naming the rule type: nothing changes. The default.
	Refuse Unbound = iota
	// ApplyInMemory loads the rules into the engine only, as Java Sentinel
	// does: they are lost on restart and other instances do not see them.
	ApplyInMemory
)

// Defaults.
const (
	DefaultListenAddr        = "127.0.0.1:8719"
	DefaultHeartbeatInterval = 10 * time.Second // Java's
	DefaultHeartbeatDelay    = 5 * time.Second  // Java sends the first beat 5 s after start
	DefaultSentinelVersion   = "1.8.9"
	DefaultMaxDataBytes      = 1 << 20
	DefaultHistorySeconds    = 65 // > 60: the one-minute totals of clusterNode need a full minute
	DefaultMaxRemoved        = 1
)

// Option configures an Agent.
type Option func(*config)

type config struct {
	appType       AppType
	listen        string
	dashboards    []string
	app           *ruleapply.App
	unbound       Unbound
	allow         []netip.Prefix
	allowSet      bool
	maxData       int
	maxRemoved    int
	hbInterval    time.Duration
	hbDelay       time.Duration
	version       string
	advertiseIP   string
	hostname      string
	logger        *slog.Logger
	cluster       *Cluster
	history       int
	now           func() time.Time
	requireRead   bool
	ioTimeout     time.Duration
	maxConcurrent int
	listener      net.Listener
}

func defaultConfig() config {
	return config{
		listen:        DefaultListenAddr,
		maxData:       DefaultMaxDataBytes,
		maxRemoved:    DefaultMaxRemoved,
		hbInterval:    DefaultHeartbeatInterval,
		hbDelay:       DefaultHeartbeatDelay,
		version:       DefaultSentinelVersion,
		logger:        slog.Default(),
		history:       DefaultHistorySeconds,
		now:           time.Now,
		requireRead:   true,
		ioTimeout:     10 * time.Second,
		maxConcurrent: 64,
	}
}

// WithAppType sets the application type (AppNormal unless set).
func WithAppType(t AppType) Option { return func(c *config) { c.appType = t } }

// WithListenAddr sets the command server's address, host:port
// (DefaultListenAddr: loopback only). Port 0 picks a free port; the
// heartbeat reports the port bound. Listening on every interface
// (":8719") is a choice to make explicitly, with WithAllowedClients.
func WithListenAddr(addr string) Option { return func(c *config) { c.listen = addr } }

// WithListener makes the command server accept on ln (already listening,
// e.g. a socket handed over by a supervisor) instead of WithListenAddr. The
// agent closes it.
func WithListener(ln net.Listener) Option { return func(c *config) { c.listener = ln } }

// WithDashboards sets the dashboards to send heartbeats to: host:port each,
// optionally with http:// or https://. Each gets its own heartbeat (Java
// sends to the first one only). Their hosts are allowed to send commands
// unless WithAllowedClients says otherwise.
func WithDashboards(addrs ...string) Option {
	return func(c *config) { c.dashboards = append(c.dashboards, addrs...) }
}

// WithRules makes the set commands write through the bindings of app
// (ruleapply.BindApp), with compare-and-set, and the get commands read them.
func WithRules(app *ruleapply.App) Option { return func(c *config) { c.app = app } }

// WithUnbound sets what a set command does for a rule type without a
// binding (Refuse unless set).
func WithUnbound(u Unbound) Option { return func(c *config) { c.unbound = u } }

// WithAllowedClients sets who may connect to the command server: IP
// addresses ("10.0.0.5") or prefixes ("10.0.0.0/24"). It replaces the
// default, which is loopback plus the addresses of the dashboards' hosts.
// An entry that is neither makes New fail.
func WithAllowedClients(addrs ...string) Option {
	return func(c *config) {
		c.allowSet = true
		for _, a := range addrs {
			p, _ := ParseAllowedClient(a) // an invalid prefix is reported by New
			c.allow = append(c.allow, p)
		}
	}
}

// ParseAllowedClient reads one entry of WithAllowedClients: an IP address
// (the prefix of that one address) or a prefix (masked).
func ParseAllowedClient(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a prefix (10.0.0.0/24)", s)
	}
	return netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()), nil
}

// WithMaxDataBytes bounds a request's parameters, query and body together
// (DefaultMaxDataBytes). A larger request is answered 413.
func WithMaxDataBytes(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxData = n
		}
	}
}

// WithMaxRemoved bounds how many rules one set command may remove
// (DefaultMaxRemoved; 0: no bound). The dashboard changes one rule per
// action and sends the machine's whole list, so a list that drops more
// comes from a dashboard that lost the rules it read (it restarted and
// did not read them again): applying it would delete them everywhere.
func WithMaxRemoved(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.maxRemoved = n
		}
	}
}

// WithoutReadBeforeWrite lets a client set the rules of a bound type
// without having read them first. By default a set command is refused
// unless the same client address read the rules in force (or wrote them)
// since, which is how a change made elsewhere meanwhile is detected.
func WithoutReadBeforeWrite() Option { return func(c *config) { c.requireRead = false } }

// WithHeartbeat sets the heartbeat period and the delay of the first beat
// (DefaultHeartbeatInterval, DefaultHeartbeatDelay).
func WithHeartbeat(interval, firstDelay time.Duration) Option {
	return func(c *config) {
		if interval > 0 {
			c.hbInterval = interval
		}
		if firstDelay >= 0 {
			c.hbDelay = firstDelay
		}
	}
}

// WithSentinelVersion sets the version the heartbeat reports
// (DefaultSentinelVersion). The dashboard talks POST forms with a charset
// to 1.7.1 and later, POST forms without one to 1.6.x-1.7.0, and GET
// queries to older versions; an unparseable version hides its param pages.
func WithSentinelVersion(v string) Option { return func(c *config) { c.version = v } }

// WithAdvertiseIP sets the IP the heartbeat reports, at which the dashboard
// connects to the command server. By default: the listen address's IP if it
// is a specific one, else the local address of the connection to the
// dashboard.
func WithAdvertiseIP(ip string) Option { return func(c *config) { c.advertiseIP = ip } }

// WithHostname sets the host name the heartbeat reports (os.Hostname by default).
func WithHostname(h string) Option { return func(c *config) { c.hostname = h } }

// WithLogger sets the logger (slog.Default() by default).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithCluster serves the cluster commands (getClusterMode, setClusterMode,
// cluster/client/*, cluster/server/*) through cl; without it the app
// answers as a Java app without the cluster modules does.
func WithCluster(cl *Cluster) Option { return func(c *config) { c.cluster = cl } }

// WithHistorySeconds sets how many seconds of statistics the engine keeps
// for the metric and clusterNode commands (DefaultHistorySeconds; the
// dashboard reads at most 20 s back, one-minute totals need 60).
func WithHistorySeconds(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.history = n
		}
	}
}

// WithIOTimeout bounds reading a request and writing its answer (10 s, the
// dashboard's socket timeout), so that a slow client holds one connection
// for that long at most.
func WithIOTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.ioTimeout = d
		}
	}
}

// withNow replaces the wall clock (tests).
func withNow(now func() time.Time) Option { return func(c *config) { c.now = now } }
