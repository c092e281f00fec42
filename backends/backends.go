// Package backends is the backend table of every config center rulesync
// has a source for: file, etcd, Redis, Consul, Nacos and Apollo. It is a
// module of its own because it links every backend's SDK; a program that
// needs fewer builds its own table from the sources it imports, e.g.
// datasource.Backends{file.Backend(), etcd.Backend()}.
package backends

import (
	"log/slog"

	"github.com/rulesync/rulesync/datasource"
	"github.com/rulesync/rulesync/sources/apollo"
	"github.com/rulesync/rulesync/sources/consul"
	"github.com/rulesync/rulesync/sources/etcd"
	"github.com/rulesync/rulesync/sources/file"
	"github.com/rulesync/rulesync/sources/nacos"
	"github.com/rulesync/rulesync/sources/redis"
)

// Option configures All.
type Option func(*options)

type options struct{ logger *slog.Logger }

// WithLogger sets the logger of every source the table opens (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// All returns the table of every backend, in a fixed order: file, etcd,
// redis, consul, nacos, apollo.
func All(opts ...Option) datasource.Backends {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return datasource.Backends{
		file.Backend(),
		etcd.Backend(etcd.WithLogger(o.logger)),
		redis.Backend(redis.WithLogger(o.logger)),
		consul.Backend(consul.WithLogger(o.logger)),
		nacos.Backend(nacos.WithLogger(o.logger)),
		apollo.Backend(apollo.WithLogger(o.logger)),
	}
}
