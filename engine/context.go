package engine

import "context"

// Private key types, so no other package can read or overwrite these values.
type (
	originKey   struct{}
	entranceKey struct{}
)

// WithOrigin returns a copy of ctx that names the caller, which flow rules with a
// limitApp and authority rules match against.
func WithOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

// OriginFrom returns the caller set by WithOrigin, or "".
func OriginFrom(ctx context.Context) string {
	s, _ := ctx.Value(originKey{}).(string)
	return s
}

// WithEntrance returns a copy of ctx that names the entrance the call came
// through (Sentinel's context name), which chain flow rules match against.
func WithEntrance(ctx context.Context, entrance string) context.Context {
	return context.WithValue(ctx, entranceKey{}, entrance)
}

// EntranceFrom returns the entrance set by WithEntrance, or "".
func EntranceFrom(ctx context.Context) string {
	s, _ := ctx.Value(entranceKey{}).(string)
	return s
}
