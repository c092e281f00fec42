package redis

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulesync/rulesync/datasource"
)

// Config is what a startup file or a command line gives to reach Redis. Its
// param tags name the parameters of Backend; Options turns it into the
// client options Dial takes.
type Config struct {
	// Addrs: one address for a standalone server, several for a Cluster, or
	// the Sentinels when MasterName is set.
	Addrs            []string `param:"addr,required" env:"REDIS_ADDR" usage:"Redis addresses, comma-separated: one server, a Cluster's nodes, or the Sentinels (with master)"`
	MasterName       string   `param:"master" usage:"Sentinel master name"`
	Username         string   `param:"username" usage:"ACL user (default: the default user)"`
	Password         string   `param:"password,secret" usage:"password of the user"`
	SentinelPassword string   `param:"sentinel-password,secret" usage:"password of the Sentinels"`
	DB               int      `param:"database" usage:"database number (standalone and Sentinel)"`
	// TLS, when set, is used for the connections; otherwise TLSFiles, when
	// any is set.
	TLS         *tls.Config
	TLSFiles    datasource.TLSFiles `param:",inline"`
	DialTimeout time.Duration       `param:"dial-timeout" usage:"bound on each connection attempt (default 5s)"`
}

// String describes the configuration without its passwords.
func (c Config) String() string { return datasource.DescribeParams("redis", c) }

// LogValue keeps the passwords out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Options returns the client options of c, for Dial.
func (c Config) Options() (*goredis.UniversalOptions, error) {
	tlsCfg := c.TLS
	if tlsCfg == nil {
		var err error
		if tlsCfg, err = c.TLSFiles.Config(); err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
	}
	return &goredis.UniversalOptions{
		Addrs: c.Addrs, MasterName: c.MasterName, Username: c.Username, Password: c.Password,
		SentinelPassword: c.SentinelPassword, DB: c.DB, TLSConfig: tlsCfg, DialTimeout: c.DialTimeout,
	}, nil
}

// backendParams are the parameters of Backend: a Config, the key and its channel.
type backendParams struct {
	Config        `param:",inline"`
	Key           string        `param:"key,required" usage:"the key holding the rules"`
	Channel       string        `param:"channel,required" usage:"the channel changes are published on"`
	KeyPrefix     string        `param:"key-prefix" usage:"prefix of the keys named by data id (key = prefix + data id)"`
	ChannelPrefix string        `param:"channel-prefix" usage:"prefix of the channels named by data id (channel = prefix + data id)"`
	HealthCheck   time.Duration `param:"health-check" usage:"how long a subscription may stay silent before it is checked (default 15s)"`
}

// Backend returns Redis's entry of a backend table. Every source it opens
// gets opts (after the options its parameters set).
func Backend(opts ...Option) datasource.Backend {
	return datasource.Backend{
		Name:    "redis",
		Summary: "one Redis key and its pub/sub channel, as Java Sentinel's Redis datasource; written with WATCH/MULTI and SET+PUBLISH",
		Params:  datasource.ParamsOf(backendParams{}),
		Primary: "addr",
		Open: datasource.TypedOpen("redis", backendParams{}, func(ctx context.Context, bp backendParams) (datasource.WritableSource, error) {
			o, err := bp.Config.Options()
			if err != nil {
				return nil, err
			}
			var all []Option
			if bp.HealthCheck > 0 {
				all = append(all, WithHealthCheck(bp.HealthCheck))
			}
			return Dial(ctx, o, bp.Key, bp.Channel, append(all, opts...)...)
		}),
		DataID: func(p datasource.Params, dataID string) datasource.Params {
			q := datasource.DataIDAt("key", "key-prefix")(p, dataID)
			q["channel"] = q["channel-prefix"] + dataID
			return q
		},
	}
}
