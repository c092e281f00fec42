package harness

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The notification long poll: held until a release is scanned, then
// answered with the new id; an id the client already has is held again.
func TestApolloProtocolNotifications(t *testing.T) {
	s := ApolloProtocol(t, WithApolloHold(300*time.Millisecond), WithApolloScanInterval(20*time.Millisecond))
	if err := s.Set("app", "default", "application", "k", "v"); err != nil {
		t.Fatal(err)
	}
	poll := func(id int64) (int, []ApolloNotification) {
		n, _ := json.Marshal([]ApolloNotification{{NamespaceName: "application", NotificationID: id}})
		resp, err := http.Get(s.URL + "/notifications/v2?appId=app&cluster=default&notifications=" + url.QueryEscape(string(n)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []ApolloNotification
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := poll(-1); code != http.StatusNotModified {
		t.Fatalf("no release yet: %d, want 304 after the hold", code)
	}
	done := make(chan []ApolloNotification, 1)
	go func() { _, out := poll(-1); done <- out }()
	time.Sleep(50 * time.Millisecond)
	if err := s.Release("app", "default", "application"); err != nil {
		t.Fatal(err)
	}
	out := <-done
	if len(out) != 1 || out[0].NotificationID <= 0 {
		t.Fatalf("held poll answered %+v", out)
	}
	if code, _ := poll(out[0].NotificationID); code != http.StatusNotModified {
		t.Fatalf("poll with the current id: %d, want 304", code)
	}
	resp, err := http.Get(s.URL + "/configs/app/default/application")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"k":"v"`) {
		t.Fatalf("/configs: %s", body)
	}
}

// The OpenAPI refuses a request without the token, an unknown operator and
// a value over Apollo's limit.
func TestApolloProtocolOpenAPIChecks(t *testing.T) {
	s := ApolloProtocol(t)
	s.AddNamespace("app", "default", "application")
	base := s.URL + "/openapi/v1/envs/DEV/apps/app/clusters/default/namespaces/application/items/k?createIfNotExists=true"
	do := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPut, base, strings.NewReader(body))
		req.Header.Set("Authorization", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	item := func(by, value string) string {
		b, _ := json.Marshal(map[string]string{"key": "k", "value": value, "dataChangeLastModifiedBy": by, "dataChangeCreatedBy": by})
		return string(b)
	}
	for _, tc := range []struct {
		name, token, body string
		want              int
	}{
		{"no token", "", item("apollo", "v"), http.StatusUnauthorized},
		{"unknown user", s.Token, item("mallory", "v"), http.StatusBadRequest},
		{"too long", s.Token, item("apollo", strings.Repeat("x", 20001)), http.StatusBadRequest},
		{"ok", s.Token, item("apollo", strings.Repeat("x", 20000)), http.StatusOK},
	} {
		if got := do(tc.token, tc.body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// FuzzParseApolloNotifications: any notifications parameter is a list of
// named, distinct namespaces, or an error; never a panic.
func FuzzParseApolloNotifications(f *testing.F) {
	for _, s := range []string{`[{"namespaceName":"application","notificationId":-1}]`, `[]`, `[{}]`, `{`, `null`,
		`[{"namespaceName":"a","notificationId":1},{"namespaceName":"a","notificationId":2}]`, `[{"namespaceName":"a","notificationId":1e99}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := ParseApolloNotifications(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range ns {
			if strings.TrimSpace(n.NamespaceName) == "" || seen[n.NamespaceName] {
				t.Fatalf("accepted %q: %+v", s, ns)
			}
			seen[n.NamespaceName] = true
		}
	})
}

// FuzzApolloProtocolRequests: no request, whatever its method, path, query
// or body, panics the server or answers outside 2xx-5xx.
func FuzzApolloProtocolRequests(f *testing.F) {
	s := &ApolloProtocolServer{Token: "t", Operator: "apollo", ns: map[apolloNS]*apolloNamespace{}, messages: map[string]int64{},
		scanned: map[string]int64{}, changed: make(chan struct{}), logs: nil,
		cfg: apolloConfig{hold: time.Millisecond, scan: time.Second, secrets: map[string]string{"sec": "x"}, users: []string{"apollo"}, env: "DEV"}}
	s.logs = newDiscardBuffer()
	s.AddNamespace("a", "default", "application")
	ns := "/openapi/v1/envs/DEV/apps/a/clusters/default/namespaces/application"
	for _, c := range [][3]string{
		{"PUT", ns + "/items/k?createIfNotExists=true", `{"key":"k","value":"v","dataChangeLastModifiedBy":"apollo","dataChangeCreatedBy":"apollo"}`},
		{"POST", ns + "/releases", `{"releaseTitle":"t","releasedBy":"apollo"}`},
		{"GET", ns + "/releases/latest", ""}, {"DELETE", ns + "/items/k?operator=apollo", ""}, {"POST", ns + "/items", `{"key":""}`},
		{"GET", "/configs/a/default/application?releaseKey=x", ""}, {"GET", "/configs/sec/default/application", ""},
		{"GET", "/notifications/v2?appId=a&cluster=default&notifications=%5B%7B%22namespaceName%22%3A%22application%22%2C%22notificationId%22%3A-1%7D%5D", ""},
		{"GET", "/services/config?appId=a", ""}, {"GET", "/openapi/v1/envs", ""},
	} {
		f.Add(c[0], c[1], c[2])
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || (method != "GET" && method != "PUT" && method != "POST" && method != "DELETE") {
			return
		}
		req := httptest.NewRequest(method, "http://x/", strings.NewReader(body))
		req.URL = u
		req.Header.Set("Authorization", "t")
		w := httptest.NewRecorder()
		s.serve(w, req)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("%s %s: status %d", method, target, w.Code)
		}
	})
}
