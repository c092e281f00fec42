package harness

import (
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/rulesync/rulesync/internal/syncbuf"
)

// ApolloProtocolServer is the project's own test server for Apollo's
// protocols, in one process with the test: the config service's
// /configs, /configfiles/json, /notifications/v2 (long polls with ids) and
// /services/config, and the portal's OpenAPI for items and releases
// (/openapi/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{ns}...),
// written from Apollo 2.5's documented API. It is not Apollo: it has no
// database, no admin service, no gray releases, no namespace locks, no
// cluster fallback to "default" and no app or permission model beyond one
// OpenAPI token, a set of portal users and per-app access key secrets.
//
// Like Apollo, a release becomes a release message, and held notification
// polls (and new ones) learn of it only when the message scanner runs (every
// second, as Apollo's ReleaseMessageScanner; see WithApolloScanInterval),
// while /configs serves the latest release at once.
type ApolloProtocolServer struct {
	// URL serves both the config service and the portal's OpenAPI.
	URL string
	// Token is the OpenAPI token (header Authorization).
	Token string
	// Operator is a portal user that may edit and release.
	Operator string

	cfg  apolloConfig
	addr string
	logs *syncbuf.Buffer

	mu       sync.Mutex
	ns       map[apolloNS]*apolloNamespace
	msgID    int64
	messages map[string]int64 // watch key -> id of its latest release message
	scanned  map[string]int64 // what the scanner has seen of messages
	changed  chan struct{}    // closed (and replaced) when a scan finds messages
	srv      *http.Server
	down     context.CancelFunc // ends the held polls of the running server
	paused   chan struct{}      // non-nil while paused; closed by Resume
	stopScan chan struct{}
}

var _ Server = (*ApolloProtocolServer)(nil)

type apolloConfig struct {
	hold, scan, jitter time.Duration
	secrets            map[string]string
	users              []string
	env                string
}

// ApolloProtocolOption adjusts an ApolloProtocolServer.
type ApolloProtocolOption func(*apolloConfig)

// WithApolloHold sets how long a notification poll is held before the
// server answers 304 (Apollo: 60 s).
func WithApolloHold(d time.Duration) ApolloProtocolOption {
	return func(c *apolloConfig) { c.hold = d }
}

// WithApolloScanInterval sets how often release messages are scanned
// (Apollo: 1 s).
func WithApolloScanInterval(d time.Duration) ApolloProtocolOption {
	return func(c *apolloConfig) { c.scan = d }
}

// WithApolloJitter delays every OpenAPI request by a random time up to d,
// so that racing writers interleave their steps in many orders.
func WithApolloJitter(d time.Duration) ApolloProtocolOption {
	return func(c *apolloConfig) { c.jitter = d }
}

// WithApolloSecret makes the config service require requests of app signed
// with secret (Apollo's access keys: HMAC-SHA1 of timestamp and path, within
// one minute).
func WithApolloSecret(app, secret string) ApolloProtocolOption {
	return func(c *apolloConfig) { c.secrets[app] = secret }
}

// apolloNS names a namespace.
type apolloNS struct{ app, cluster, ns string }

type apolloItem struct {
	Key                        string `json:"key"`
	Value                      string `json:"value"`
	Comment                    string `json:"comment,omitempty"`
	DataChangeCreatedBy        string `json:"dataChangeCreatedBy"`
	DataChangeLastModifiedBy   string `json:"dataChangeLastModifiedBy"`
	DataChangeCreatedTime      string `json:"dataChangeCreatedTime"`
	DataChangeLastModifiedTime string `json:"dataChangeLastModifiedTime"`
}

type apolloRelease struct {
	ID                  int64             `json:"id"`
	AppID               string            `json:"appId"`
	ClusterName         string            `json:"clusterName"`
	NamespaceName       string            `json:"namespaceName"`
	Name                string            `json:"name"`
	Configurations      map[string]string `json:"configurations"`
	Comment             string            `json:"comment"`
	DataChangeCreatedBy string            `json:"dataChangeCreatedBy"`
	releaseKey          string
}

type apolloNamespace struct {
	items   []*apolloItem // in creation order, as Apollo lists them
	release *apolloRelease
}

func (n *apolloNamespace) item(key string) (int, *apolloItem) {
	for i, it := range n.items {
		if it.Key == key {
			return i, it
		}
	}
	return -1, nil
}

// apolloTime formats t as Apollo's JSON does.
func apolloTime(t time.Time) string { return t.Format("2006-01-02T15:04:05.000-0700") }

// ApolloProtocol starts an ApolloProtocolServer on a loopback port for t and
// stops it when t ends. It runs in the test's process, so it is never
// unavailable.
func ApolloProtocol(t testing.TB, opts ...ApolloProtocolOption) *ApolloProtocolServer {
	t.Helper()
	cfg := apolloConfig{hold: 60 * time.Second, scan: time.Second, secrets: map[string]string{}, users: []string{"apollo"}, env: "DEV"}
	for _, o := range opts {
		o(&cfg)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	s := &ApolloProtocolServer{
		Token: randomHex(20), Operator: "apollo", cfg: cfg, addr: loopback(ports[0]),
		logs: &syncbuf.Buffer{Limit: 1 << 20}, ns: map[apolloNS]*apolloNamespace{},
		messages: map[string]int64{}, scanned: map[string]int64{}, changed: make(chan struct{}),
		stopScan: make(chan struct{}),
	}
	s.URL = "http://" + s.addr
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	go s.scanLoop()
	t.Cleanup(func() {
		close(s.stopScan)
		_ = s.Resume()
		_ = s.Kill()
	})
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

func (s *ApolloProtocolServer) scanLoop() {
	t := time.NewTicker(s.cfg.scan)
	defer t.Stop()
	for {
		select {
		case <-s.stopScan:
			return
		case <-t.C:
		}
		s.mu.Lock()
		found := false
		for k, id := range s.messages {
			if s.scanned[k] != id {
				s.scanned[k], found = id, true
			}
		}
		if found {
			close(s.changed)
			s.changed = make(chan struct{})
		}
		s.mu.Unlock()
	}
}

// AddNamespace creates a namespace (without items or release), as creating
// an app or a namespace in the portal does.
func (s *ApolloProtocolServer) AddNamespace(app, cluster, ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns[apolloNS{app, cluster, ns}] == nil {
		s.ns[apolloNS{app, cluster, ns}] = &apolloNamespace{}
	}
}

// Set edits an item as the Operator in the portal (not released), creating
// the namespace if needed.
func (s *ApolloProtocolServer) Set(app, cluster, ns, key, value string) error {
	return s.SetAs(s.Operator, app, cluster, ns, key, value)
}

// SetAs edits an item as the portal user user (not released), creating the
// namespace if needed.
func (s *ApolloProtocolServer) SetAs(user, app, cluster, ns, key, value string) error {
	s.AddNamespace(app, cluster, ns)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setItem(s.ns[apolloNS{app, cluster, ns}], key, value, "", user, true)
	return nil
}

// Delete removes an item as the Operator (not released).
func (s *ApolloProtocolServer) Delete(app, cluster, ns, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.ns[apolloNS{app, cluster, ns}]
	if n == nil {
		return fmt.Errorf("harness: apollo namespace %s/%s/%s does not exist", app, cluster, ns)
	}
	if i, _ := n.item(key); i >= 0 {
		n.items = append(n.items[:i], n.items[i+1:]...)
	}
	return nil
}

// Release publishes the namespace's items as the Operator.
func (s *ApolloProtocolServer) Release(app, cluster, ns string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.ns[apolloNS{app, cluster, ns}]
	if n == nil {
		return fmt.Errorf("harness: apollo namespace %s/%s/%s does not exist", app, cluster, ns)
	}
	s.release(apolloNS{app, cluster, ns}, n, "harness", "", s.Operator)
	return nil
}

func (s *ApolloProtocolServer) setItem(n *apolloNamespace, key, value, comment, by string, create bool) bool {
	now := apolloTime(time.Now())
	if _, it := n.item(key); it != nil {
		it.Value, it.Comment, it.DataChangeLastModifiedBy, it.DataChangeLastModifiedTime = value, comment, by, now
		return true
	}
	if !create {
		return false
	}
	n.items = append(n.items, &apolloItem{Key: key, Value: value, Comment: comment, DataChangeCreatedBy: by, DataChangeLastModifiedBy: by,
		DataChangeCreatedTime: now, DataChangeLastModifiedTime: now})
	return true
}

// release snapshots n's items as its new latest release and records a
// release message for the scanner. Call with s.mu held.
func (s *ApolloProtocolServer) release(k apolloNS, n *apolloNamespace, title, comment, by string) *apolloRelease {
	conf := make(map[string]string, len(n.items))
	for _, it := range n.items {
		if it.Key != "" {
			conf[it.Key] = it.Value
		}
	}
	s.msgID++
	n.release = &apolloRelease{ID: s.msgID, AppID: k.app, ClusterName: k.cluster, NamespaceName: k.ns, Name: title, Configurations: conf,
		Comment: comment, DataChangeCreatedBy: by, releaseKey: time.Now().Format("20060102150405") + "-" + randomHex(8)}
	s.messages[watchKey(k)] = s.msgID
	return n.release
}

func watchKey(k apolloNS) string { return k.app + "+" + k.cluster + "+" + k.ns }

// ---- Server

// Kill drops the listener and every connection at once, as a crash does;
// the data survives (Apollo keeps it in its database).
func (s *ApolloProtocolServer) Kill() error {
	s.mu.Lock()
	srv, down := s.srv, s.down
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	down()
	return srv.Close()
}

// Stop answers the held polls, then closes the listener and the connections.
func (s *ApolloProtocolServer) Stop() error {
	s.mu.Lock()
	srv, down := s.srv, s.down
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	down()
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	return nil
}

// Restart serves again on the same address, stopping first if it runs.
func (s *ApolloProtocolServer) Restart() error {
	if err := s.Kill(); err != nil {
		return err
	}
	var l net.Listener
	var err error
	for deadline := time.Now().Add(readyTimeout); ; time.Sleep(20 * time.Millisecond) {
		if l, err = net.Listen("tcp", s.addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("harness: apollo-protocol server: listen %s: %w", s.addr, err)
	}
	ctx, down := context.WithCancel(context.Background())
	srv := &http.Server{Handler: http.HandlerFunc(s.serve), BaseContext: func(net.Listener) context.Context { return ctx }}
	s.mu.Lock()
	s.srv, s.down = srv, down
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return nil
}

// Pause makes every request wait, connections open, until Resume.
func (s *ApolloProtocolServer) Pause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused == nil {
		s.paused = make(chan struct{})
	}
	return nil
}

// Resume lets waiting and new requests through.
func (s *ApolloProtocolServer) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused != nil {
		close(s.paused)
		s.paused = nil
	}
	return nil
}

// Logs returns one line per request served.
func (s *ApolloProtocolServer) Logs() string { return s.logs.String() }

// ---- HTTP

type apolloStatus struct {
	http.ResponseWriter
	code int
}

func (w *apolloStatus) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (s *ApolloProtocolServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	paused := s.paused
	s.mu.Unlock()
	if paused != nil {
		select {
		case <-paused:
		case <-r.Context().Done():
			return
		}
	}
	sw := &apolloStatus{ResponseWriter: w, code: http.StatusOK}
	begin := time.Now()
	defer func() {
		fmt.Fprintf(s.logs, "%s %s %s %d %s\n", begin.Format("15:04:05.000"), r.Method, r.URL.Path, sw.code, time.Since(begin).Round(time.Millisecond))
	}()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case parts[0] == "openapi":
		if s.cfg.jitter > 0 {
			time.Sleep(rand.N(s.cfg.jitter))
		}
		s.openAPI(sw, r, parts)
	case r.Method != http.MethodGet:
		apolloError(sw, http.StatusMethodNotAllowed, "method not allowed")
	case len(parts) == 4 && parts[0] == "configs":
		s.configs(sw, r, apolloNS{parts[1], parts[2], parts[3]}, false)
	case len(parts) == 5 && parts[0] == "configfiles" && parts[1] == "json":
		s.configs(sw, r, apolloNS{parts[2], parts[3], parts[4]}, true)
	case r.URL.Path == "/notifications/v2":
		s.notifications(sw, r)
	case r.URL.Path == "/services/config":
		apolloJSON(sw, []map[string]string{{"appName": "APOLLO-CONFIGSERVICE", "instanceId": "harness:" + s.addr, "homepageUrl": s.URL + "/"}})
	default:
		apolloError(sw, http.StatusNotFound, "no such endpoint")
	}
}

func apolloJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func apolloError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": code, "message": msg, "timestamp": apolloTime(time.Now())})
}

// normalizeNamespace drops the ".properties" suffix, as the config service does.
func normalizeNamespace(ns string) string { return strings.TrimSuffix(ns, ".properties") }

// authorized checks the access key signature of a config-service request
// for app, when app has a secret.
func (s *ApolloProtocolServer) authorized(w http.ResponseWriter, r *http.Request, app string) bool {
	secret, ok := s.cfg.secrets[app]
	if !ok {
		return true
	}
	ts, err := strconv.ParseInt(r.Header.Get("Timestamp"), 10, 64)
	if err != nil || time.Since(time.UnixMilli(ts)).Abs() >= time.Minute {
		apolloError(w, http.StatusUnauthorized, "RequestTimeTooSkewed")
		return false
	}
	pathQuery := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		pathQuery += "?" + r.URL.RawQuery
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(r.Header.Get("Timestamp") + "\n" + pathQuery))
	want := "Apollo " + app + ":" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(r.Header.Get("Authorization")), []byte(want)) {
		apolloError(w, http.StatusUnauthorized, "Unauthorized")
		return false
	}
	return true
}

func (s *ApolloProtocolServer) configs(w http.ResponseWriter, r *http.Request, k apolloNS, files bool) {
	if !s.authorized(w, r, k.app) {
		return
	}
	name := k.ns
	k.ns = normalizeNamespace(k.ns)
	s.mu.Lock()
	var rel *apolloRelease
	if n := s.ns[k]; n != nil {
		rel = n.release
	}
	s.mu.Unlock()
	switch {
	case rel == nil:
		apolloError(w, http.StatusNotFound, fmt.Sprintf("Could not load configurations with appId: %s, clusterName: %s, namespace: %s", k.app, k.cluster, name))
	case files:
		apolloJSON(w, rel.Configurations)
	case r.URL.Query().Get("releaseKey") == rel.releaseKey:
		w.WriteHeader(http.StatusNotModified)
	default:
		apolloJSON(w, map[string]any{"appId": k.app, "cluster": k.cluster, "namespaceName": name, "configurations": rel.Configurations, "releaseKey": rel.releaseKey})
	}
}

// ApolloNotification is one entry of the notifications parameter and answer
// of /notifications/v2.
type ApolloNotification struct {
	NamespaceName  string `json:"namespaceName"`
	NotificationID int64  `json:"notificationId"`
}

// ParseApolloNotifications decodes the notifications parameter of
// /notifications/v2: a JSON array of {namespaceName, notificationId}, each
// namespace named once and not blank.
func ParseApolloNotifications(s string) ([]ApolloNotification, error) {
	var ns []ApolloNotification
	if err := json.Unmarshal([]byte(s), &ns); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	if len(ns) == 0 {
		return nil, errors.New("notifications: empty")
	}
	seen := map[string]bool{}
	for i, n := range ns {
		switch {
		case strings.TrimSpace(n.NamespaceName) == "":
			return nil, fmt.Errorf("notifications[%d]: blank namespaceName", i)
		case seen[n.NamespaceName]:
			return nil, fmt.Errorf("notifications[%d]: namespace %q named twice", i, n.NamespaceName)
		}
		seen[n.NamespaceName] = true
	}
	return ns, nil
}

func (s *ApolloProtocolServer) notifications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, cluster := q.Get("appId"), q.Get("cluster")
	if app == "" || cluster == "" {
		apolloError(w, http.StatusBadRequest, "appId and cluster are required")
		return
	}
	if !s.authorized(w, r, app) {
		return
	}
	asked, err := ParseApolloNotifications(q.Get("notifications"))
	if err != nil {
		apolloError(w, http.StatusBadRequest, "Invalid format of notifications: "+err.Error())
		return
	}
	hold := time.NewTimer(s.cfg.hold)
	defer hold.Stop()
	for {
		s.mu.Lock()
		var news []ApolloNotification
		for _, n := range asked {
			id, ok := s.scanned[watchKey(apolloNS{app, cluster, normalizeNamespace(n.NamespaceName)})]
			if ok && id > n.NotificationID {
				news = append(news, ApolloNotification{NamespaceName: n.NamespaceName, NotificationID: id})
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if len(news) > 0 {
			apolloJSON(w, news)
			return
		}
		select {
		case <-changed:
		case <-hold.C:
			w.WriteHeader(http.StatusNotModified)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// openAPI serves /openapi/v1/envs/{env}/apps/{app}/clusters/{cluster}/namespaces/{ns}[/...].
func (s *ApolloProtocolServer) openAPI(w http.ResponseWriter, r *http.Request, p []string) {
	if r.Header.Get("Authorization") != s.Token {
		apolloError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	if len(p) < 10 || p[1] != "v1" || p[2] != "envs" || p[4] != "apps" || p[6] != "clusters" || p[8] != "namespaces" {
		apolloError(w, http.StatusNotFound, "no such OpenAPI endpoint")
		return
	}
	if !strings.EqualFold(p[3], s.cfg.env) {
		apolloError(w, http.StatusBadRequest, "env "+p[3]+" is not supported")
		return
	}
	k := apolloNS{p[5], p[7], p[9]}
	rest := strings.Join(p[10:], "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.ns[k]
	if n == nil {
		apolloError(w, http.StatusNotFound, fmt.Sprintf("namespace not found for appId:%s clusterName:%s namespaceName:%s", k.app, k.cluster, k.ns))
		return
	}
	key, isItem := strings.CutPrefix(rest, "items/")
	switch {
	case rest == "" && r.Method == http.MethodGet:
		items := make([]*apolloItem, len(n.items))
		copy(items, n.items)
		apolloJSON(w, map[string]any{"appId": k.app, "clusterName": k.cluster, "namespaceName": k.ns, "format": "properties", "isPublic": false, "items": items})
	case rest == "releases/latest" && r.Method == http.MethodGet:
		if n.release != nil {
			apolloJSON(w, n.release)
		}
	case rest == "releases" && r.Method == http.MethodPost:
		var in struct{ ReleaseTitle, ReleaseComment, ReleasedBy string }
		if !s.decode(w, r, &in) || !s.check(w, in.ReleaseTitle != "" && in.ReleasedBy != "", "Params(releaseTitle and releasedBy) can not be empty") || !s.user(w, in.ReleasedBy) {
			return
		}
		apolloJSON(w, s.release(k, n, in.ReleaseTitle, in.ReleaseComment, in.ReleasedBy))
	case isItem && key != "" && r.Method == http.MethodGet:
		if _, it := n.item(key); it != nil {
			apolloJSON(w, it)
		} else {
			apolloError(w, http.StatusNotFound, "item not found for "+key)
		}
	case isItem && key != "" && r.Method == http.MethodPut:
		var in apolloItem
		create := r.URL.Query().Get("createIfNotExists") == "true"
		if !s.decode(w, r, &in) || !s.check(w, in.Key != "" && in.DataChangeLastModifiedBy != "", "key and dataChangeLastModifiedBy can not be empty") ||
			!s.check(w, in.Key == key, "Key in path and payload is not consistent") || !s.validItem(w, in) || !s.user(w, in.DataChangeLastModifiedBy) ||
			!s.check(w, !create || in.DataChangeCreatedBy != "", "dataChangeCreatedBy is required when createIfNotExists is true") {
			return
		}
		if !s.setItem(n, key, in.Value, in.Comment, in.DataChangeLastModifiedBy, create) {
			apolloError(w, http.StatusNotFound, "item not found for "+key)
		}
	case rest == "items" && r.Method == http.MethodPost:
		var in apolloItem
		if !s.decode(w, r, &in) || !s.check(w, in.Key != "" && in.DataChangeCreatedBy != "", "key and dataChangeCreatedBy should not be null or empty") ||
			!s.validItem(w, in) || !s.user(w, in.DataChangeCreatedBy) {
			return
		}
		if _, it := n.item(in.Key); it != nil {
			apolloError(w, http.StatusBadRequest, "item already exists")
			return
		}
		s.setItem(n, in.Key, in.Value, in.Comment, in.DataChangeCreatedBy, true)
		_, it := n.item(in.Key)
		apolloJSON(w, it)
	case isItem && key != "" && r.Method == http.MethodDelete:
		if !s.user(w, r.URL.Query().Get("operator")) {
			return
		}
		i, _ := n.item(key)
		if i < 0 {
			apolloError(w, http.StatusNotFound, "item not found for "+key)
			return
		}
		n.items = append(n.items[:i], n.items[i+1:]...)
	default:
		apolloError(w, http.StatusNotFound, "no such OpenAPI endpoint")
	}
}

func (s *ApolloProtocolServer) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		apolloError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func (s *ApolloProtocolServer) check(w http.ResponseWriter, ok bool, msg string) bool {
	if !ok {
		apolloError(w, http.StatusBadRequest, msg)
	}
	return ok
}

func (s *ApolloProtocolServer) user(w http.ResponseWriter, u string) bool {
	for _, known := range s.cfg.users {
		if u == known {
			return true
		}
	}
	apolloError(w, http.StatusBadRequest, fmt.Sprintf("[User:%s] not exists", u))
	return false
}

// validItem applies Apollo's default limits: key 128, value 20,000 and
// comment 256 characters (Java chars).
func (s *ApolloProtocolServer) validItem(w http.ResponseWriter, it apolloItem) bool {
	chars := func(v string) int { return len(utf16.Encode([]rune(v))) }
	return s.check(w, chars(it.Key) <= 128, "key too long") &&
		s.check(w, chars(it.Value) <= 20000, "value too long. length limit:20000") &&
		s.check(w, chars(it.Comment) <= 256, "Comment length should not exceed 256 characters")
}

func newDiscardBuffer() *syncbuf.Buffer { return &syncbuf.Buffer{Limit: 1 << 16} }
