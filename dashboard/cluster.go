package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rulesync/rulesync/engine/cluster"
	"github.com/rulesync/rulesync/engine/cluster/tokenclient"
	"github.com/rulesync/rulesync/engine/cluster/tokenserver"
	"github.com/rulesync/rulesync/property"
)

// Cluster modes, with Sentinel's numbers (ClusterStateManager).
const (
	ModeNotStarted = -1
	ModeClient     = 0
	ModeServer     = 1
)

// ClientConfig is what the dashboard sets on a token client
// (cluster/client/modifyConfig): the server to use and the timeouts.
type ClientConfig struct {
	ServerHost       string `json:"serverHost"`
	ServerPort       int    `json:"serverPort"`
	RequestTimeoutMs int64  `json:"requestTimeout"`
	ConnectTimeoutMs int64  `json:"connectTimeout"`
}

// Validate reports the first field the client could not use.
func (c ClientConfig) Validate() error {
	switch {
	case strings.TrimSpace(c.ServerHost) == "":
		return errors.New("serverHost is blank")
	case c.ServerPort <= 0 || c.ServerPort > 65535:
		return fmt.Errorf("serverPort %d is not 1..65535", c.ServerPort)
	case c.RequestTimeoutMs <= 0:
		return fmt.Errorf("requestTimeout %d must be > 0 (ms)", c.RequestTimeoutMs)
	case c.ConnectTimeoutMs < 0:
		return fmt.Errorf("connectTimeout %d must be >= 0 (ms)", c.ConnectTimeoutMs)
	}
	return nil
}

// ClusterClient is the token client role, as the cluster commands need it.
// TokenClient adapts a *tokenclient.Client.
type ClusterClient interface {
	// State is the client's state (cluster/client/fetchConfig).
	State() tokenclient.State
	// SetConfig applies the config the dashboard sent; an error is shown.
	SetConfig(ctx context.Context, c ClientConfig) error
}

// ClusterServer is the token server role, as the cluster commands need it.
// TokenServer adapts a *tokenserver.Server. The dashboard changes a server
// with SetNamespaces, SetTransport and SetFlow, in that order.
type ClusterServer interface {
	// Info is the server's state (cluster/server/info).
	Info() tokenserver.Info
	SetNamespaces(ctx context.Context, namespaces []string) error
	SetTransport(ctx context.Context, c cluster.TransportConfig) error
	SetFlow(ctx context.Context, c cluster.FlowConfig) error
}

// Cluster is the application's cluster roles as the dashboard's cluster
// commands see them. A nil Client or Server is a role the application does
// not have: its commands are unknown and setClusterMode refuses it, as a
// Java application without that cluster module answers.
type Cluster struct {
	Client ClusterClient
	Server ClusterServer
	// SwitchMode makes the application a token client (ModeClient) or
	// server (ModeServer), as setClusterMode asks: typically it points the
	// engine's flow and param managers at the client or the embedded
	// server. Nil: the mode is only recorded.
	SwitchMode func(ctx context.Context, mode int) error
	// CurrentMode reports the application's mode (ModeNotStarted,
	// ModeClient or ModeServer), for getClusterMode. Nil: ModeNotStarted
	// until setClusterMode switches it, then the mode switched to.
	CurrentMode func() int

	mu       sync.Mutex
	mode     int
	modified time.Time
	set      bool
}

func (c *Cluster) state() (int, time.Time) {
	c.mu.Lock()
	mode, modified, set := c.mode, c.modified, c.set
	c.mu.Unlock()
	switch {
	case c.CurrentMode != nil:
		return c.CurrentMode(), modified
	case set:
		return mode, modified
	}
	return ModeNotStarted, time.Time{}
}

// register adds the cluster commands to m. A nil Cluster has no roles.
func (c *Cluster) register(a *Agent, m map[string]handler) {
	m["getClusterMode"] = func(*request) response {
		mode, modified := ModeNotStarted, time.Time{}
		var client, server bool
		if c != nil {
			mode, modified = c.state()
			client, server = c.Client != nil, c.Server != nil
		}
		var last int64
		if !modified.IsZero() {
			last = modified.UnixMilli()
		}
		return jsonAnswer(map[string]any{"mode": mode, "lastModified": last, "clientAvailable": client, "serverAvailable": server})
	}
	m["setClusterMode"] = func(r *request) response {
		mode, err := strconv.Atoi(strings.TrimSpace(r.params["mode"]))
		if err != nil {
			return failure(http.StatusBadRequest, "invalid parameter")
		}
		switch {
		case mode == ModeClient && (c == nil || c.Client == nil):
			return failure(http.StatusBadRequest, "token client mode not available: no SPI found")
		case mode == ModeServer && (c == nil || c.Server == nil):
			return failure(http.StatusBadRequest, "token server mode not available: no SPI found")
		case mode != ModeClient && mode != ModeServer:
			return failure(http.StatusBadRequest, "invalid parameter: mode must be 0 (client) or 1 (server)")
		}
		if c.SwitchMode != nil {
			if err := c.SwitchMode(r.ctx, mode); err != nil {
				return failure(http.StatusBadRequest, err.Error())
			}
		}
		c.mu.Lock()
		c.mode, c.modified, c.set = mode, a.cfg.now(), true
		c.mu.Unlock()
		a.log.Info("dashboard: cluster mode changed", "client", r.client.String(), "mode", mode)
		return ok(msgSuccess)
	}
	if c == nil {
		return
	}
	if cl := c.Client; cl != nil {
		m["cluster/client/fetchConfig"] = func(*request) response {
			st := cl.State()
			return jsonAnswer(map[string]any{"serverHost": st.ServerHost, "serverPort": st.ServerPort,
				"clientState": st.ClientState, "requestTimeout": st.RequestTimeout})
		}
		m["cluster/client/modifyConfig"] = func(r *request) response {
			data := r.params["data"]
			if strings.TrimSpace(data) == "" {
				return failure(http.StatusBadRequest, "empty data")
			}
			var cfg ClientConfig
			if err := strictJSON(data, &cfg); err != nil {
				return failure(http.StatusBadRequest, "decode client cluster config error: "+err.Error())
			}
			if err := cfg.Validate(); err != nil {
				return failure(http.StatusBadRequest, "invalid client cluster config: "+err.Error())
			}
			if err := cl.SetConfig(r.ctx, cfg); err != nil {
				return failure(http.StatusBadRequest, err.Error())
			}
			a.log.Info("dashboard: token client config changed", "client", r.client.String(), "server", net.JoinHostPort(cfg.ServerHost, strconv.Itoa(cfg.ServerPort)))
			return ok(msgSuccess)
		}
	}
	if sv := c.Server; sv != nil {
		m["cluster/server/info"] = func(*request) response { return jsonAnswer(sv.Info()) }
		m["cluster/server/modifyTransportConfig"] = func(r *request) response {
			port, err1 := strconv.Atoi(strings.TrimSpace(r.params["port"]))
			idle, err2 := strconv.Atoi(strings.TrimSpace(r.params["idleSeconds"]))
			switch {
			case strings.TrimSpace(r.params["port"]) == "":
				return failure(http.StatusBadRequest, "invalid empty port")
			case strings.TrimSpace(r.params["idleSeconds"]) == "":
				return failure(http.StatusBadRequest, "invalid empty idleSeconds")
			case err1 != nil || err2 != nil:
				return failure(http.StatusBadRequest, "invalid parameter")
			}
			tc := cluster.TransportConfig{Port: port, IdleSeconds: idle}
			if err := tc.Validate(); err != nil {
				return failure(http.StatusBadRequest, err.Error())
			}
			if err := sv.SetTransport(r.ctx, tc); err != nil {
				return failure(http.StatusBadRequest, err.Error())
			}
			a.log.Info("dashboard: token server transport changed", "client", r.client.String(), "port", port, "idle_seconds", idle)
			return ok(msgSuccess)
		}
		m["cluster/server/modifyFlowConfig"] = func(r *request) response {
			data := r.params["data"]
			if strings.TrimSpace(data) == "" {
				return failure(http.StatusBadRequest, "empty data")
			}
			if ns := strings.TrimSpace(r.params["namespace"]); ns != "" {
				return failure(http.StatusBadRequest, fmt.Sprintf("a flow config for namespace %q alone is not supported: send it without namespace, for the whole server", ns))
			}
			fc := cluster.DefaultFlowConfig() // Java fills what is missing with its defaults
			if err := strictJSON(data, &fc); err != nil {
				return failure(http.StatusBadRequest, "decode cluster server flow config error: "+err.Error())
			}
			// Java loads a bad config without checking it (its check's
			// answer is dropped); it is refused here.
			if err := fc.Validate(); err != nil {
				return failure(http.StatusBadRequest, err.Error())
			}
			if err := sv.SetFlow(r.ctx, fc); err != nil {
				return failure(http.StatusBadRequest, err.Error())
			}
			a.log.Info("dashboard: token server flow config changed", "client", r.client.String(), "config", data)
			return ok(msgSuccess)
		}
		m["cluster/server/modifyNamespaceSet"] = func(r *request) response {
			data := r.params["data"]
			if strings.TrimSpace(data) == "" {
				return failure(http.StatusBadRequest, "empty data")
			}
			var set []string
			if err := strictJSON(data, &set); err != nil {
				return failure(http.StatusBadRequest, "decode server namespace set error: "+err.Error())
			}
			clean := make([]string, 0, len(set))
			for _, ns := range set {
				if ns = strings.TrimSpace(ns); ns != "" && !contains(clean, ns) {
					clean = append(clean, ns)
				}
			}
			if err := sv.SetNamespaces(r.ctx, clean); err != nil {
				return failure(http.StatusBadRequest, err.Error())
			}
			a.log.Info("dashboard: token server namespaces changed", "client", r.client.String(), "namespaces", strings.Join(clean, ","))
			return ok(msgSuccess)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// strictJSON decodes one JSON value into v, and nothing after it.
func strictJSON(data string, v any) error {
	dec := json.NewDecoder(strings.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// TokenClient adapts a token client whose configuration comes from a
// property (tokenclient.WithConfig): SetConfig updates the property, in
// memory, as Java does. An application that keeps client configs in a
// config center gives ClusterClient an implementation of its own that
// writes there and lets the datasource update the property.
type TokenClient struct {
	Client *tokenclient.Client
	Config *property.Property[tokenclient.Config]
}

// State implements ClusterClient.
func (t TokenClient) State() tokenclient.State { return t.Client.State() }

// SetConfig implements ClusterClient.
func (t TokenClient) SetConfig(_ context.Context, c ClientConfig) error {
	if t.Config == nil {
		return errors.New("the token client's config cannot be changed: it does not come from a property")
	}
	cur, _ := t.Config.Get()
	next := tokenclient.Config{
		Servers:        []string{net.JoinHostPort(strings.TrimSpace(c.ServerHost), strconv.Itoa(c.ServerPort))},
		RequestTimeout: time.Duration(c.RequestTimeoutMs) * time.Millisecond,
		ConnectTimeout: cur.ConnectTimeout,
	}
	if c.ConnectTimeoutMs > 0 {
		next.ConnectTimeout = time.Duration(c.ConnectTimeoutMs) * time.Millisecond
	}
	if err := next.Validate(); err != nil {
		return err
	}
	t.Config.Update(next)
	return nil
}

// TokenServer adapts a token server whose namespace set and configs come
// from properties (tokenserver.WithNamespaces, WithTransportConfig,
// WithFlowConfig): the Set methods update them, in memory. A nil property
// refuses that change.
type TokenServer struct {
	Server     *tokenserver.Server
	Namespaces *property.Property[[]string]
	Transport  *property.Property[cluster.TransportConfig]
	Flow       *property.Property[cluster.FlowConfig]
}

// Info implements ClusterServer.
func (t TokenServer) Info() tokenserver.Info { return t.Server.Info() }

// SetNamespaces implements ClusterServer.
func (t TokenServer) SetNamespaces(_ context.Context, ns []string) error {
	if t.Namespaces == nil {
		return errors.New("the token server's namespaces cannot be changed: they do not come from a property")
	}
	t.Namespaces.Update(ns)
	return nil
}

// SetTransport implements ClusterServer.
func (t TokenServer) SetTransport(_ context.Context, c cluster.TransportConfig) error {
	if t.Transport == nil {
		return errors.New("the token server's transport cannot be changed: it does not come from a property")
	}
	t.Transport.Update(c)
	return nil
}

// SetFlow implements ClusterServer.
func (t TokenServer) SetFlow(_ context.Context, c cluster.FlowConfig) error {
	if t.Flow == nil {
		return errors.New("the token server's flow config cannot be changed: it does not come from a property")
	}
	t.Flow.Update(c)
	return nil
}
