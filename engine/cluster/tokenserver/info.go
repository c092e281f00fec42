package tokenserver

import (
	"net"
	"slices"

	"github.com/rulesync/rulesync/engine/base"
	"github.com/rulesync/rulesync/engine/cluster"
)

// ConnectionGroup is the clients of one namespace (Sentinel's ConnectionGroup).
type ConnectionGroup struct {
	Namespace      string           `json:"namespace"`
	ConnectionSet  []ConnectionInfo `json:"connectionSet"`
	ConnectedCount int              `json:"connectedCount"`
}

// RequestLimit is a namespace's request rate against its limit.
type RequestLimit struct {
	Namespace     string  `json:"namespace"`
	CurrentQps    float64 `json:"currentQps"`
	MaxAllowedQps float64 `json:"maxAllowedQps"`
}

// Info is a read-only snapshot of the server, shaped as the answer of
// Sentinel's `cluster/server/info` command.
type Info struct {
	Port             int                     `json:"port"`
	Connection       []ConnectionGroup       `json:"connection"`
	RequestLimitData []RequestLimit          `json:"requestLimitData"`
	Transport        cluster.TransportConfig `json:"transport"`
	Flow             cluster.FlowConfig      `json:"flow"`
	NamespaceSet     []string                `json:"namespaceSet"`
	Embedded         bool                    `json:"embedded"`
	AppName          string                  `json:"appName,omitempty"`
}

// Info returns a snapshot of the server. Port is the port listened on (the
// configured one before Start).
func (s *Server) Info() Info {
	now := s.clock.NowMs()
	ix := s.index.Load()
	cfg := *s.flowCfg.Load()
	s.tr.mu.Lock()
	port := s.tr.cfg.Port
	if a, ok := s.listenAddrLocked().(*net.TCPAddr); ok {
		port = a.Port
	}
	s.tr.mu.Unlock()
	info := Info{
		Port:             port,
		Connection:       []ConnectionGroup{},
		RequestLimitData: []RequestLimit{},
		Transport:        cluster.TransportConfig{Port: port, IdleSeconds: int(s.idle.Load())},
		Flow:             cfg,
		NamespaceSet:     slices.Clone(ix.spaces),
		Embedded:         s.opts.embedded,
		AppName:          s.opts.appName,
	}
	s.rulesMu.Lock()
	states := make([]*nsState, 0, len(ix.spaces))
	for _, n := range ix.spaces {
		states = append(states, s.stateFor(n))
	}
	s.rulesMu.Unlock()
	for _, st := range states {
		set := s.clients.snapshot(st.name)
		info.Connection = append(info.Connection, ConnectionGroup{Namespace: st.name, ConnectionSet: set, ConnectedCount: len(set)})
		info.RequestLimitData = append(info.RequestLimitData, RequestLimit{Namespace: st.name, CurrentQps: st.limiter.qps(now), MaxAllowedQps: cfg.MaxAllowedQps})
	}
	return info
}

// NamespaceStatus is what the server made of one namespace's rules.
type NamespaceStatus struct {
	Namespace  string           `json:"namespace"`
	FlowRules  int              `json:"flowRules"`  // cluster flow rules accepted
	ParamRules int              `json:"paramRules"` // cluster param rules accepted
	Rejected   []base.Rejection `json:"rejected,omitempty"`
	Notes      []string         `json:"notes,omitempty"` // e.g. dropped exception items
	Error      string           `json:"error,omitempty"` // the supplier's error
}

// Status tells what the server serves and what it refused.
type Status struct {
	Namespaces []NamespaceStatus `json:"namespaces"`
	// Conflicts are rules not served because another rule holds their flowId.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	// ConfigErrors are the latest refused flow and transport configs.
	ConfigErrors []string `json:"configErrors,omitempty"`
	// ListenError is why the latest port change failed, if it did.
	ListenError string `json:"listenError,omitempty"`
}

// Status returns what the server serves and what it refused.
func (s *Server) Status() Status {
	s.rulesMu.Lock()
	var st Status
	names := make([]string, 0, len(s.active))
	for n := range s.active {
		names = append(names, n)
	}
	slices.Sort(names)
	ix := s.index.Load()
	for _, n := range names {
		ns := s.active[n]
		nst := NamespaceStatus{Namespace: n, Rejected: slices.Clone(ns.rejected), Notes: slices.Clone(ns.notes)}
		for _, e := range ix.flows {
			if e.ns.name == n {
				nst.FlowRules++
			}
		}
		for _, e := range ix.params {
			if e.ns.name == n {
				nst.ParamRules++
			}
		}
		if ns.err != nil {
			nst.Error = ns.err.Error()
		}
		st.Namespaces = append(st.Namespaces, nst)
	}
	st.Conflicts = slices.Clone(s.conflicts)
	st.ConfigErrors = slices.Clone(s.cfgErrs)
	s.rulesMu.Unlock()
	s.tr.mu.Lock()
	st.ListenError = s.tr.bindErr
	s.tr.mu.Unlock()
	return st
}

// ConnectedCount returns the clients connected in namespace.
func (s *Server) ConnectedCount(namespace string) int {
	return len(s.clients.snapshot(namespace))
}

func (s *Server) listenAddrLocked() net.Addr {
	if s.tr.ln == nil {
		return nil
	}
	return s.tr.ln.Addr()
}
