package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With -api-addr the quickstart answers the Sentinel dashboard's commands,
// and a flow rule set through them lands in the rules file and is enforced.
func TestDashboardCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(path, []byte(`[{"resource":"GET:/hello","count":100,"grade":1}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(context.Background(), config{rulesPath: path, logger: slog.New(slog.DiscardHandler), apiAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + srv.agent.Addr().String()
	call := func(cmd string, form url.Values) (int, string) {
		resp, err := http.PostForm(base+"/"+cmd, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if st, body := call("getRules", url.Values{"type": {"flow"}}); st != 200 || !strings.Contains(body, `"GET:/hello"`) {
		t.Fatalf("getRules: %d %s", st, body)
	}
	if st, body := call("setRules", url.Values{"type": {"flow"}, "data": {`[{"resource":"GET:/hello","count":0,"grade":1,"limitApp":"default"}]`}}); st != 200 || body != "success" {
		t.Fatalf("setRules: %d %s", st, body)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"count": 0`) {
		t.Fatalf("the rules file holds %s", data)
	}
	if _, err := srv.engine.Entry(context.Background(), resource); err == nil {
		t.Fatal("the dashboard's rule is not enforced")
	}
	// Degrade rules have no datasource in the quickstart: refused, said so.
	if st, body := call("setRules", url.Values{"type": {"degrade"}, "data": {`[]`}}); st != http.StatusNotImplemented || !strings.Contains(body, "no writable datasource") {
		t.Fatalf("degrade: %d %s", st, body)
	}
}
