package harness

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// NacosVersion is the Nacos server release the harness runs. The Nacos
// project publishes only its client-side modules to Maven Central; the server
// modules of this release are there as org.jeecgframework.nacos 2.3.2, a
// republication whose classes and resources match upstream's tag 2.3.2 except
// for an added Dameng datasource plugin, which a Derby-backed server never
// loads (integration/harness/NACOS.md has the comparison).
const NacosVersion = "2.3.2"

// nacosSetup is the script that resolves the Nacos classpath into the cache.
const nacosSetup = "scripts/setup-nacos.sh"

// Nacos port layout: the SDK derives the gRPC port as HTTP port + 1000 and the
// server also binds HTTP port + 1001 for cluster gRPC, even standalone.
const (
	nacosGRPCOffset    = 1000
	nacosClusterOffset = 1001
)

// NacosServer is a running standalone Nacos (embedded Derby storage, config
// module only) for one test. Its data directory survives Kill, Stop and
// Restart, so configs published before a restart are there after it.
//
// Timings measured on the 2-core test machine: start to ready 2.7 to 3.2 s
// when it is idle and 3.4 to 5.7 s at load average 3 to 6, with the
// class-data-sharing archive that scripts/setup-nacos.sh records (6.2 to
// 9.9 s loaded without it); Restart about as long; with auth on, the user
// set-up adds up to 2 s. RSS 225 to 240 MiB (-Xmx512m). Stop (SIGTERM) 0.65 s.
type NacosServer struct {
	lifecycle
	// Host is the address the server answers on (127.0.0.1).
	Host string
	// Port is the HTTP port; the API lives under /nacos.
	Port int
	// GRPCPort is the gRPC port the 2.x SDKs use: Port + 1000, which is
	// also what they derive when it is not given.
	GRPCPort int
	// Addr is Host:Port.
	Addr string
	// BaseURL is the HTTP API root, http://Host:Port/nacos.
	BaseURL string
	// User and Password are the credentials when auth is on (WithPassword);
	// both are "" on an open server.
	User, Password string
	// Home is the server's nacos.home: data (Derby), conf and logs. It is
	// kept across restarts.
	Home string
}

var _ Server = (*NacosServer)(nil)

// Nacos starts a standalone Nacos server for t and stops it when t ends. It
// skips t when java or the cached server classpath (scripts/setup-nacos.sh)
// is missing, and fails it then with RULESYNC_REQUIRE_SERVERS=1.
//
// With WithPassword, the server runs with nacos.core.auth.enabled=true and
// Nacos returns once User (WithUser, default "nacos") logs in with that
// password. "nacos" is Nacos's one global admin; another user gets read and
// write on every config but not the console's admin APIs (users,
// namespaces), for which "nacos" keeps the same password. The default
// password "nacos" no longer works. The server always runs locally: there is
// no Docker path.
func Nacos(t testing.TB, opts ...Option) *NacosServer {
	t.Helper()
	cfg := newConfig(opts)
	s := start(t, "nacos", func(string) (*NacosServer, error) { return newNacos(t, cfg) })
	if cfg.password != "" {
		if err := s.setUpAuth(cfg.userOr("nacos"), cfg.password); err != nil {
			t.Fatalf("harness: set up nacos auth: %v\n%s", err, tail(s.Logs(), 2000))
		}
	}
	return s
}

func newNacos(t testing.TB, cfg config) (*NacosServer, error) {
	java, err := javaBinary()
	if err != nil {
		return nil, err
	}
	cp, err := nacosClasspath()
	if err != nil {
		return nil, err
	}
	port, err := nacosPortBlock()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	s := &NacosServer{
		Host:     "127.0.0.1",
		Port:     port,
		GRPCPort: port + nacosGRPCOffset,
		Home:     home,
	}
	s.Addr = loopback(port)
	s.BaseURL = "http://" + s.Addr + "/nacos"
	s.name = "nacos " + s.Addr
	s.ready = s.probe

	confDir := filepath.Join(home, "conf")
	for _, d := range []string{confDir, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("harness: nacos dirs: %w", err)
		}
	}
	props, err := nacosProperties(home, cfg.password != "")
	if err != nil {
		return nil, err
	}
	// A file rather than -D flags: it keeps the token secret out of the
	// process list.
	if _, err := writeConf(confDir, "application.properties", props); err != nil {
		return nil, err
	}
	args := nacosJVMFlags(dir)
	args = append(args,
		"-Dnacos.standalone=true",
		"-Dnacos.functionMode=config",
		"-Dnacos.home="+home,
		"-Dserver.port="+strconv.Itoa(port),
		// The client bundled in the server logs under JM.LOG.PATH, $HOME/logs by default.
		"-DJM.LOG.PATH="+filepath.Join(home, "logs"),
		"-cp", cp,
		"com.alibaba.nacos.Nacos",
		"--spring.config.additional-location=file:"+confDir+"/",
	)
	s.b = newProcess(java, dir, args...)
	return s, nil
}

// nacosJVMFlags keeps the JVM small and quick to start: C1 only and the
// serial collector take about a third off the start-up of this Spring Boot
// server on two cores, and the class-data-sharing archive, when
// setup-nacos.sh recorded one, a few seconds more. A stale archive is ignored by
// the JVM (-Xshare:auto), with a warning in the logs.
func nacosJVMFlags(dir string) []string {
	flags := []string{
		"-Xms128m", "-Xmx512m",
		"-XX:TieredStopAtLevel=1",
		"-XX:+UseSerialGC",
		"-XX:-UsePerfData",
		"-Djava.io.tmpdir=" + filepath.Join(dir, "tmp"),
	}
	if jsa, err := cacheDir("nacos", NacosVersion, "nacos.jsa"); err == nil {
		if _, err := os.Stat(jsa); err == nil {
			flags = append(flags, "-Xshare:auto", "-XX:SharedArchiveFile="+jsa)
		}
	}
	return flags
}

// nacosProperties is the server's application.properties: loopback HTTP, no
// access log, logs under home, and with auth a fresh token secret and server
// identity (Nacos 2.2+ refuses to start with auth on and either missing).
func nacosProperties(home string, auth bool) ([]string, error) {
	lines := []string{
		"server.address=127.0.0.1",
		"nacos.inetutils.ip-address=127.0.0.1",
		"nacos.logs.path=" + filepath.Join(home, "logs"),
		"server.tomcat.accesslog.enabled=false",
		"nacos.core.auth.enabled=" + strconv.FormatBool(auth),
	}
	if !auth {
		return lines, nil
	}
	secret := make([]byte, 32)
	identity := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if _, err := rand.Read(identity); err != nil {
		return nil, err
	}
	return append(lines,
		"nacos.core.auth.system.type=nacos",
		"nacos.core.auth.plugin.nacos.token.secret.key="+base64.StdEncoding.EncodeToString(secret),
		"nacos.core.auth.server.identity.key=rulesync-harness",
		"nacos.core.auth.server.identity.value="+hex.EncodeToString(identity),
		// Without this, user changes reach the login check up to 15 s late.
		"nacos.core.auth.caching.enabled=false",
	), nil
}

// nacosClasspath reads the classpath that setup-nacos.sh resolved with Maven
// and checks that every jar is still in the local repository.
func nacosClasspath() (string, error) {
	f, err := cacheDir("nacos", NacosVersion, "classpath.txt")
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("%w: nacos %s classpath not resolved (run %s): %v", errUnavailable, NacosVersion, nacosSetup, err)
	}
	cp := strings.TrimSpace(string(b))
	if cp == "" {
		return "", fmt.Errorf("%w: nacos classpath file %s is empty (run %s)", errUnavailable, f, nacosSetup)
	}
	for _, jar := range filepath.SplitList(cp) {
		if _, err := os.Stat(jar); err != nil {
			return "", fmt.Errorf("%w: nacos classpath names a missing jar (run %s): %v", errUnavailable, nacosSetup, err)
		}
	}
	return cp, nil
}

// nacosPortBlock picks an HTTP port P with P, P+1000 and P+1001 free. It
// draws from below the kernel's ephemeral range (32768 and up on Linux), where
// outgoing connections do not take ports, and checks the gRPC ports on all
// interfaces because Nacos binds them there. Like freePorts, the check can
// race with another process; start retries with a fresh block.
func nacosPortBlock() (int, error) {
	const lo, hi = 10000, 31000
	for range 200 {
		p := lo + mrand.IntN(hi-lo)
		if portsFree(p, p+nacosGRPCOffset, p+nacosClusterOffset) {
			return p, nil
		}
	}
	return 0, errors.New("harness: no free nacos port block (P, P+1000, P+1001) in 200 tries")
}

func portsFree(ports ...int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, p := range ports {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ls = append(ls, l)
	}
	return true
}

// probe is ready when the readiness endpoint answers 200 (config storage up)
// and both gRPC ports accept connections. Whether the server also registers
// a new gRPC connection in time for nacos-sdk-go's first request is a
// question of the SDK's protocol: sources/nacos/nacostest checks it with the
// SDK's own types, which this package cannot import.
func (s *NacosServer) probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL+"/v1/console/health/readiness", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readiness: %s: %s", resp.Status, body)
	}
	return dialAll(ctx, loopback(s.GRPCPort), loopback(s.Port+nacosClusterOffset))
}

// dialAll checks that every address accepts a TCP connection.
func dialAll(ctx context.Context, addrs ...string) error {
	var d net.Dialer
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", a)
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}

// setUpAuth gives the built-in global admin "nacos" (which the embedded
// database creates with password "nacos") the configured password and, when
// user is another name, creates that user with read and write access to every
// config of every namespace: Nacos 2.x has exactly one global admin and
// refuses to grant ROLE_ADMIN to anyone else. Users, roles and permissions
// live in Derby under Home, so restarts keep them.
func (s *NacosServer) setUpAuth(user, password string) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	token, err := s.Login(ctx, "nacos", "nacos")
	if err != nil {
		return err
	}
	if user != "nacos" {
		role := "rulesync-rw"
		for _, step := range []struct {
			method, path string
			form         url.Values
		}{
			{http.MethodPost, "/v1/auth/users", url.Values{"username": {user}, "password": {password}}},
			{http.MethodPost, "/v1/auth/roles", url.Values{"role": {role}, "username": {user}}},
			// "*" becomes the pattern .* over namespace:group:config/dataId.
			{http.MethodPost, "/v1/auth/permissions", url.Values{"role": {role}, "resource": {"*"}, "action": {"rw"}}},
		} {
			if err := s.authCall(ctx, step.method, step.path, token, step.form); err != nil {
				return err
			}
		}
	}
	if err := s.authCall(ctx, http.MethodPut, "/v1/auth/users", token, url.Values{"username": {"nacos"}, "newPassword": {password}}); err != nil {
		return err
	}
	if _, err := s.Login(ctx, user, password); err != nil {
		return fmt.Errorf("login as %s after set-up: %w", user, err)
	}
	s.User, s.Password = user, password
	return nil
}

// ErrNacosLogin is returned by Login when the server refuses the credentials.
var ErrNacosLogin = errors.New("nacos login refused")

// Login calls POST /v1/auth/login and returns the access token. A refusal
// (wrong user or password) wraps ErrNacosLogin.
func (s *NacosServer) Login(ctx context.Context, user, password string) (string, error) {
	form := url.Values{"username": {user}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.BaseURL+"/v1/auth/login", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
		return "", fmt.Errorf("%w: %s: %s", ErrNacosLogin, resp.Status, body)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("nacos login: %s: %s", resp.Status, body)
	}
	var r struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.AccessToken == "" {
		return "", fmt.Errorf("nacos login: no accessToken in %q", body)
	}
	return r.AccessToken, nil
}

func (s *NacosServer) authCall(ctx context.Context, method, path, token string, form url.Values) error {
	form.Set("accessToken", token)
	req, err := http.NewRequestWithContext(ctx, method, s.BaseURL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, body)
	}
	return nil
}

// String names the server without credentials.
func (s *NacosServer) String() string { return "nacos " + s.Addr }
