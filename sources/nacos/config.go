package nacos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/rulesync/rulesync/datasource"
)

// Config is what Dial needs to reach Nacos. Its param tags name the
// parameters of Backend, spelled as Spring Cloud Alibaba's
// spring.cloud.sentinel.datasource.<name>.nacos.* keys.
type Config struct {
	// ServerAddr lists the servers as host:port (the HTTP port, 8848 by
	// default; gRPC is that port + 1000), optionally with http:// or
	// https:// and a context path.
	ServerAddr []string `param:"server-addr,required" env:"NACOS_SERVER_ADDR" usage:"Nacos servers, comma-separated host:port (HTTP port; gRPC is port+1000)"`
	// Namespace is the namespace id; "" is the public namespace.
	Namespace   string `param:"namespace" usage:"namespace id (default: public)"`
	ContextPath string `param:"context-path" default:"/nacos" usage:"context path of the HTTP API (default /nacos)"`
	Username    string `param:"username" usage:"user name (with password)"`
	Password    string `param:"password,secret" usage:"password of the user"`
	AccessKey   string `param:"access-key" usage:"access key (with secret-key), for servers that sign requests"`
	SecretKey   string `param:"secret-key,secret" usage:"secret key of the access key"`
	// TLSFiles turn on TLS for gRPC and use https for the HTTP login. The SDK
	// takes files only.
	TLSFiles datasource.TLSFiles `param:",inline"`
	// Timeout bounds each read and the login (default 3s; the SDK bounds
	// writes by 3s itself).
	Timeout time.Duration `param:"timeout" usage:"bound on each read (default 3s)"`
	// CacheDir is where the SDK keeps its copies of the configs. They are
	// never read in place of the server's value; the listener compares its
	// first md5 with them. Default: a private temporary directory that Close
	// removes.
	CacheDir string `param:"cache-dir" usage:"the SDK's cache directory (default: a temporary one removed on close)"`
}

// String describes the configuration without its secrets.
func (c Config) String() string { return datasource.DescribeParams("nacos", c) }

// LogValue keeps the secrets out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// backendParams are the parameters of Backend: a Config and the config's name.
type backendParams struct {
	Config `param:",inline"`
	Group  string `param:"group-id" default:"DEFAULT_GROUP" usage:"group of the data id (Sentinel's samples use SENTINEL_GROUP)"`
	DataID string `param:"data-id,required" usage:"the data id holding the rules"`
}

// Backend returns Nacos's entry of a backend table. Every source it opens
// gets opts.
func Backend(opts ...Option) datasource.Backend {
	return datasource.Backend{
		Name:    "nacos",
		Summary: "one Nacos config (namespace, group, data id); listened to, written with compare-and-set on its md5",
		Params:  datasource.ParamsOf(backendParams{}),
		Primary: "server-addr",
		Open: datasource.TypedOpen("nacos", backendParams{}, func(ctx context.Context, bp backendParams) (datasource.WritableSource, error) {
			return Dial(ctx, bp.Config, bp.Group, bp.DataID, opts...)
		}),
		DataID: datasource.DataIDAt("data-id", ""),
	}
}

// Dial creates a config client from cfg and returns a Source for dataID of
// group ("" = DefaultGroup) that owns it: Close closes it. The client never
// reads its local snapshot in place of the server, and its log goes through
// SetSDKLogger's adapter (installed on the first Dial), never to files. It
// does not contact the server: a refused login shows in the first Read,
// wrapping ErrAuth.
func Dial(ctx context.Context, cfg Config, group, dataID string, opts ...Option) (*Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nacos: dial: %w", err)
	}
	if len(cfg.ServerAddr) == 0 {
		return nil, errors.New("nacos: no server addresses")
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("nacos: username and password go together")
	}
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		return nil, errors.New("nacos: access-key and secret-key go together")
	}
	tlsOn := cfg.TLSFiles != datasource.TLSFiles{}
	servers := make([]constant.ServerConfig, 0, len(cfg.ServerAddr))
	for _, a := range cfg.ServerAddr {
		sc, err := parseServer(a, cfg.ContextPath, tlsOn)
		if err != nil {
			return nil, err
		}
		servers = append(servers, sc)
	}
	if (cfg.TLSFiles.CertFile == "") != (cfg.TLSFiles.KeyFile == "") {
		return nil, errors.New("nacos: tls-cert-file and tls-key-file go together")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	dir, made := cfg.CacheDir, false
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "rulesync-nacos-"); err != nil {
			return nil, fmt.Errorf("nacos: cache directory: %w", err)
		}
		made = true
	}
	secrets := datasource.Secrets{cfg.Password, cfg.SecretKey}
	installSDKLogger()
	registerSecrets(secrets)
	cc := constant.ClientConfig{
		TimeoutMs:           uint64(timeout.Milliseconds()),
		NamespaceId:         cfg.Namespace,
		Username:            cfg.Username,
		Password:            cfg.Password,
		AccessKey:           cfg.AccessKey,
		SecretKey:           cfg.SecretKey,
		CacheDir:            dir,
		LogDir:              dir, // unused: the SDK's logger is the adapter, which writes no files
		LogLevel:            "debug",
		NotLoadCacheAtStart: true,
		DisableUseSnapShot:  true,
		// Appointed: without it the SDK takes TLS settings from the environment.
		TLSCfg: constant.TLSConfig{
			Appointed: true, Enable: tlsOn, TrustAll: cfg.TLSFiles.InsecureSkipVerify,
			CaFile: cfg.TLSFiles.CAFile, CertFile: cfg.TLSFiles.CertFile, KeyFile: cfg.TLSFiles.KeyFile,
			ServerNameOverride: cfg.TLSFiles.ServerName,
		},
	}
	fail := func(err error) (*Source, error) {
		unregisterSecrets(secrets)
		if made {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	client, err := clients.NewConfigClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: servers})
	if err != nil {
		return fail(fmt.Errorf("nacos %s: client: %w", serverList(servers), secrets.Error(err)))
	}
	s, err := New(client, group, dataID, opts...)
	if err != nil {
		client.CloseClient()
		return fail(err)
	}
	s.owned, s.secrets = true, secrets
	if made {
		s.cacheDir = dir
	}
	return s, nil
}

// parseServer reads one server-addr entry: [http[s]://]host[:port][/path].
func parseServer(addr, contextPath string, tlsOn bool) (constant.ServerConfig, error) {
	a := strings.TrimSpace(addr)
	if !strings.Contains(a, "://") {
		a = "http://" + a
	}
	u, err := url.Parse(a)
	if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" {
		return constant.ServerConfig{}, fmt.Errorf("nacos: server-addr %q: want host:port, optionally with http:// or https:// and a context path", addr)
	}
	port := uint64(8848)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 || n > 65535-constant.RpcPortOffset {
			return constant.ServerConfig{}, fmt.Errorf("nacos: server-addr %q: bad port %q", addr, p)
		}
		port = n
	}
	scheme := u.Scheme
	if tlsOn {
		scheme = "https"
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path == "" {
		path = strings.TrimSuffix(contextPath, "/")
	}
	if path == "" {
		path = "/nacos"
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return constant.ServerConfig{
		Scheme: scheme, ContextPath: path, IpAddr: u.Hostname(),
		Port: port, GrpcPort: port + constant.RpcPortOffset,
	}, nil
}

// serverList names servers in errors: host:port, comma-separated.
func serverList(sc []constant.ServerConfig) string {
	parts := make([]string, len(sc))
	for i, s := range sc {
		parts[i] = net.JoinHostPort(s.IpAddr, strconv.FormatUint(s.Port, 10))
	}
	return strings.Join(parts, ",")
}
