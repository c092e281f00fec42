module github.com/rulesync/rulesync/engine/cluster/redistoken

go 1.26.0

require (
	github.com/redis/go-redis/v9 v9.23.0
	github.com/rulesync/rulesync v0.0.0-00010101000000-000000000000
	github.com/rulesync/rulesync/sources/redis v0.0.0-00010101000000-000000000000
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace (
	github.com/rulesync/rulesync => ../../..
	github.com/rulesync/rulesync/sources/redis => ../../../sources/redis
)
