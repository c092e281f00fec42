package datasource

import (
	"context"

	"github.com/rulesync/rulesync/property"
)

// Readable is what consumers of rules need from a datasource; *DataSource
// implements it.
type Readable[T any] interface {
	Property() *property.Property[T]
	Status() Status
	Close() error
}

// Writable is what a dashboard or CLI needs to store rules; *DataSource
// implements it (and returns ErrNotWritable when its source cannot write).
type Writable[T any] interface {
	Write(ctx context.Context, v T) error
}

var (
	_ Readable[[]int] = (*DataSource[[]int])(nil)
	_ Writable[[]int] = (*DataSource[[]int])(nil)
)
