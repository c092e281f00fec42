package converter

import (
	"errors"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/codec"
	"github.com/rulesync/rulesync/engine/cluster"
)

// A config is one object: empty payloads are Sentinel's defaults, keys left
// out keep them, and anything a token server would refuse is unreadable as a
// whole (the config in force stays), naming what is wrong.
func TestServerConfigCodecs(t *testing.T) {
	for _, in := range []string{"", "null", "[]", " // nothing yet\n"} {
		tc, rep, err := ServerTransport().Decode([]byte(in))
		if err != nil || tc != cluster.DefaultTransportConfig() || rep.Total != 0 || len(rep.Notes) != 1 {
			t.Errorf("transport %q: %+v, %s, %v; want the default config with a note", in, tc, rep, err)
		}
		fc, _, err := ServerFlow().Decode([]byte(in))
		if err != nil || fc != cluster.DefaultFlowConfig() {
			t.Errorf("flow %q: %+v, %v; want the default config", in, fc, err)
		}
	}
	tc, rep, err := ServerTransport().Decode([]byte(`{"port":0}`))
	if err != nil || tc.Port != 0 || tc.IdleSeconds != 600 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "Java server refuses") {
		t.Errorf("port 0: %+v, %s, %v; want it read, with a note that Java refuses it", tc, rep, err)
	}
	fc, rep, err := ServerFlow().Decode([]byte("maxAllowedQps: 5\nnamespace: default\n"))
	if err != nil || fc.MaxAllowedQps != 5 || fc.SampleCount != 10 || !rep.Clean() || len(rep.Notes) != 0 {
		t.Errorf("yaml flow config: %+v, %s, %v", fc, rep, err)
	}
	for _, tt := range []struct {
		name string
		c    func([]byte) error
		in   string
		want string
	}{
		{"transport port out of range", decodeErr(ServerTransport()), `{"port":70000}`, "port 70000 is not 0..65535"},
		{"transport idle 0", decodeErr(ServerTransport()), `{"port":1,"idleSeconds":0}`, "idleSeconds 0 must be > 0"},
		{"transport port not a number", decodeErr(ServerTransport()), `{"port":"x"}`, `port: "x" is not a number`},
		{"transport key twice", decodeErr(ServerTransport()), `{"port":1,"port":2}`, `"port" appears more than once`},
		{"transport as a list", decodeErr(ServerTransport()), `[{"port":1}]`, "top level is a list; want one token server transport config object"},
		{"transport as a string", decodeErr(ServerTransport()), `"18730"`, "top level is a string"},
		{"flow interval not divisible", decodeErr(ServerFlow()), `{"intervalMs":1000,"sampleCount":3}`, "divisible by sampleCount 3"},
		{"flow negative exceedCount", decodeErr(ServerFlow()), `{"exceedCount":-1}`, "exceedCount -1"},
		{"flow syntax", decodeErr(ServerFlow()), `{"exceedCount":}`, "line 1"},
		{"namespace set as an object", decodeErr(NamespaceSet()), `{"namespaces":["a"]}`, "top level is an object; want a list of namespace names"},
		{"namespace set as a string", decodeErr(NamespaceSet()), `"orders"`, "top level is a string"},
	} {
		err := tt.c([]byte(tt.in))
		if !errors.Is(err, codec.ErrUnreadable) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want ErrUnreadable naming %q", tt.name, err, tt.want)
		}
	}
	a, _, _ := ServerFlow().Decode([]byte(`{"exceedCount":1.5}`))
	b, _, _ := ServerFlow().Decode([]byte("exceedCount: 1.5\n"))
	if !ServerFlow().Equal(a, b) || ServerFlow().Equal(a, cluster.DefaultFlowConfig()) {
		t.Error("Equal must compare the configs' values")
	}
}

func decodeErr[T any](c codec.Codec[T]) func([]byte) error {
	return func(b []byte) error {
		_, _, err := c.Decode(b)
		return err
	}
}

// The namespace set is a set: order does not matter to Equal, and a name is
// kept once.
func TestNamespaceSetIsASet(t *testing.T) {
	c := NamespaceSet()
	a, _, err := c.Decode([]byte(`["b","a","b"]`))
	if err != nil || len(a) != 2 {
		t.Fatalf("%v, %v", a, err)
	}
	if !c.Equal(a, []string{"a", "b"}) || c.Equal(a, []string{"a"}) || c.Equal(a, []string{"a", "c"}) {
		t.Error("Equal must compare as sets")
	}
	if out, err := c.Encode(nil); err != nil || string(out) != "[]\n" {
		t.Errorf("Encode(nil) = %q, %v", out, err)
	}
}

// The cluster map reads as Sentinel's demos read it: the server of a group is
// a server, a machine in a client set a client of the first group holding it.
func TestClusterMapAssign(t *testing.T) {
	groups, rep, err := ClusterMap().Decode([]byte(`[
	 {"machineId":"10.0.0.1@8720","ip":"10.0.0.1","port":18730,"clientSet":["10.0.0.2@8720","10.0.0.3@8720"]},
	 {"machineId":"10.0.0.9@8720","ip":"10.0.0.9","port":11111,"clientSet":["10.0.0.3@8720","10.0.0.4@8720"]}]`))
	if err != nil || len(groups) != 2 || len(rep.Notes) != 1 {
		t.Fatalf("%+v, %s, %v; want two groups and a note on 10.0.0.3", groups, rep, err)
	}
	for _, tt := range []struct {
		machine string
		role    cluster.Role
		server  string
	}{
		{"10.0.0.1@8720", cluster.RoleServer, "10.0.0.1:18730"},
		{"10.0.0.2@8720", cluster.RoleClient, "10.0.0.1:18730"},
		{"10.0.0.3@8720", cluster.RoleClient, "10.0.0.1:18730"},
		{"10.0.0.4@8720", cluster.RoleClient, "10.0.0.9:11111"},
		{"10.0.0.5@8720", cluster.RoleNone, ""},
	} {
		a := cluster.Assign(groups, tt.machine)
		if a.Role != tt.role || (tt.server != "" && a.Group.Addr() != tt.server) {
			t.Errorf("%s: %s of %s, want %s of %s", tt.machine, a.Role, a.Group.Addr(), tt.role, tt.server)
		}
	}
	// Encode writes clientSet even when it was never given: Java iterates it
	// without a null check.
	out, err := ClusterMap().Encode([]cluster.ServerGroup{{IP: "10.0.0.1", Port: 1}})
	if err != nil || !strings.Contains(string(out), `"clientSet": []`) {
		t.Errorf("Encode: %s, %v", out, err)
	}
}
