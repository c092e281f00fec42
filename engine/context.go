package engine

import "context"

// callKey is the private key of the caller identity in a context. Origin and
// entrance share one value so that Entry walks the context chain once.
type callKey struct{}

type callInfo struct {
	origin   string
	entrance string
}

func callFrom(ctx context.Context) callInfo {
	ci, _ := ctx.Value(callKey{}).(callInfo)
	return ci
}

// WithOrigin returns a copy of ctx that names the caller, which flow rules with a
// limitApp and authority rules match against.
func WithOrigin(ctx context.Context, origin string) context.Context {
	ci := callFrom(ctx)
	ci.origin = origin
	return context.WithValue(ctx, callKey{}, ci)
}

// OriginFrom returns the caller set by WithOrigin, or "".
func OriginFrom(ctx context.Context) string { return callFrom(ctx).origin }

// WithEntrance returns a copy of ctx that names the entrance the call came
// through (Sentinel's context name), which chain flow rules match against.
func WithEntrance(ctx context.Context, entrance string) context.Context {
	ci := callFrom(ctx)
	ci.entrance = entrance
	return context.WithValue(ctx, callKey{}, ci)
}

// EntranceFrom returns the entrance set by WithEntrance, or "".
func EntranceFrom(ctx context.Context) string { return callFrom(ctx).entrance }
