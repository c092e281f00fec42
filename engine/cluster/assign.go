package cluster

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
)

// ServerGroup is one token server of an application's cluster assignment and
// the clients assigned to it. The assignment, a list of groups, is what the
// Sentinel dashboard keeps under {app}-cluster-map (its ClusterGroupEntity;
// NamespaceSet and MaxAllowedQps are the extra fields of its
// ClusterAppAssignMap). Machines are named by machine id, "ip@port" with the
// port of the machine's Sentinel command API, as the dashboard names them.
type ServerGroup struct {
	// MachineID is the token server's machine, when it is one of the
	// application's own (embedded) or registered with the dashboard.
	MachineID string `json:"machineId"`
	// IP and Port are where the clients reach the token server.
	IP   string `json:"ip"`
	Port int    `json:"port"`
	// ClientSet holds the machine ids of the server's clients.
	ClientSet []string `json:"clientSet"`
	// BelongToApp is set when the server is a machine of the application
	// itself (embedded mode) rather than a standalone server.
	BelongToApp bool `json:"belongToApp,omitempty"`
	// NamespaceSet is the namespaces the server serves, when the assignment
	// says (the dashboard's assign request does).
	NamespaceSet []string `json:"namespaceSet,omitempty"`
	// MaxAllowedQps is the server's request limit per namespace, when the
	// assignment says (0: not given).
	MaxAllowedQps float64 `json:"maxAllowedQps,omitempty"`
}

// DefaultServerGroup returns a group with an empty, non-nil client set:
// Java's readers iterate clientSet without a null check.
func DefaultServerGroup() ServerGroup { return ServerGroup{ClientSet: []string{}} }

// Validate reports the first field of g that a token client could not use.
func (g ServerGroup) Validate() error {
	switch {
	case strings.TrimSpace(g.IP) == "":
		return fmt.Errorf("invalid cluster server group: ip is blank (clients could not reach the server)")
	case g.Port <= 0 || g.Port > 65535:
		return fmt.Errorf("invalid cluster server group %q: port %d is not 1..65535", g.IP, g.Port)
	case math.IsNaN(g.MaxAllowedQps) || math.IsInf(g.MaxAllowedQps, 0) || g.MaxAllowedQps < 0:
		return fmt.Errorf("invalid cluster server group %q: maxAllowedQps %v must be a finite number >= 0", g.IP, g.MaxAllowedQps)
	}
	for i, c := range g.ClientSet {
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("invalid cluster server group %q: clientSet[%d] is blank", g.IP, i)
		}
	}
	for i, ns := range g.NamespaceSet {
		if strings.TrimSpace(ns) == "" {
			return fmt.Errorf("invalid cluster server group %q: namespaceSet[%d] is blank", g.IP, i)
		}
	}
	return nil
}

// Equal reports whether two groups assign the same. The client and namespace
// sets are sets: their order does not matter, and nil equals empty.
func (g ServerGroup) Equal(o ServerGroup) bool {
	return g.MachineID == o.MachineID && g.IP == o.IP && g.Port == o.Port && g.BelongToApp == o.BelongToApp &&
		g.MaxAllowedQps == o.MaxAllowedQps && sameSet(g.ClientSet, o.ClientSet) && sameSet(g.NamespaceSet, o.NamespaceSet)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// Addr is the token server's address as a token client dials it.
func (g ServerGroup) Addr() string { return net.JoinHostPort(g.IP, strconv.Itoa(g.Port)) }

// Role is what a cluster assignment makes of one machine.
type Role int

// Roles, with the numbers of Sentinel's ClusterStateManager.
const (
	RoleNone   Role = -1 // neither server nor client: cluster rules fall back
	RoleClient Role = 0
	RoleServer Role = 1
)

// String returns "none", "client" or "server".
func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	}
	return "none"
}

// Assignment is what a cluster assignment says about one machine: its role
// and the group it serves (RoleServer) or asks for tokens (RoleClient).
type Assignment struct {
	Role  Role
	Group ServerGroup
}

// Assign reads groups for the machine machineID the way Sentinel's cluster
// demos read {app}-cluster-map: a machine that is the server of a group is a
// token server (of the first such group); otherwise it is a client of the
// first group whose client set holds it; otherwise it has no role.
func Assign(groups []ServerGroup, machineID string) Assignment {
	for _, g := range groups {
		if g.MachineID != "" && g.MachineID == machineID {
			return Assignment{Role: RoleServer, Group: g}
		}
	}
	for _, g := range groups {
		if slices.Contains(g.ClientSet, machineID) {
			return Assignment{Role: RoleClient, Group: g}
		}
	}
	return Assignment{Role: RoleNone}
}
