package nacos_test

import (
	"log/slog"
	"testing"

	"github.com/rulesync/rulesync/internal/syncbuf"
	"github.com/rulesync/rulesync/sources/nacos"
)

// captureSDK sends the SDK's process-wide log, debug lines included, to a
// buffer until t ends.
func captureSDK(t testing.TB) *syncbuf.Buffer {
	var buf syncbuf.Buffer
	nacos.SetSDKLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { nacos.SetSDKLogger(nil) })
	return &buf
}
