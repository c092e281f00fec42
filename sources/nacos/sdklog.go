package nacos

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/common/logger"

	"github.com/rulesync/rulesync/datasource"
)

// nacos-sdk-go has one logger per process, which by default writes a file
// under the first client's LogDir. Its lines can quote credentials: the
// parameters of a failed login (the password) and of failed requests (the
// access token). SetSDKLogger replaces it with an adapter that removes every
// secret of the sources Dial opened, and anything that looks like a
// credential, before a line reaches slog.

// SetSDKLogger sends nacos-sdk-go's log, process-wide, to l (nil: whatever
// slog.Default() is at each line), with credentials removed. The SDK logs a
// great deal (every request retry of an outage): its info and debug lines go
// out at debug, and its warnings and errors at warn, at most one every 10
// seconds (the others at debug), without the stack traces its errors carry. Dial installs it with nil unless it was
// called before; call it again to change l.
func SetSDKLogger(l *slog.Logger) {
	sdkLog.mu.Lock()
	sdkLog.installed = true
	sdkLog.mu.Unlock()
	logger.SetLogger(&sdkLogger{target: l})
}

var sdkLog struct {
	mu        sync.Mutex
	installed bool
	secrets   map[string]int // each secret of an open source, counted
	lastLoud  time.Time
}

func installSDKLogger() {
	sdkLog.mu.Lock()
	done := sdkLog.installed
	sdkLog.mu.Unlock()
	if !done {
		SetSDKLogger(nil)
	}
}

func registerSecrets(s datasource.Secrets) {
	sdkLog.mu.Lock()
	defer sdkLog.mu.Unlock()
	if sdkLog.secrets == nil {
		sdkLog.secrets = map[string]int{}
	}
	for _, v := range s {
		if v != "" {
			sdkLog.secrets[v]++
		}
	}
}

func unregisterSecrets(s datasource.Secrets) {
	sdkLog.mu.Lock()
	defer sdkLog.mu.Unlock()
	for _, v := range s {
		if sdkLog.secrets[v]--; sdkLog.secrets[v] <= 0 {
			delete(sdkLog.secrets, v)
		}
	}
}

// credential matches the credentials the SDK can print by name, in JSON
// ("accessToken":"..."), in Go's %v of maps (password:...) and in query
// strings (accessToken=...).
var credential = regexp.MustCompile(`(?i)("?(?:accessToken|password|secretKey|Spas-SecurityToken|Spas-Signature|token)"?\s*[:=]\s*"?)([^"\s,&\]}]+)`)

// scrub removes credentials from a line of the SDK.
func scrub(line string) string {
	line = credential.ReplaceAllString(line, "${1}REDACTED")
	sdkLog.mu.Lock()
	defer sdkLog.mu.Unlock()
	for sec := range sdkLog.secrets {
		line = datasource.Secrets{sec}.Redact(line)
	}
	return line
}

// sdkLogger implements the SDK's logger.Logger on slog.
type sdkLogger struct{ target *slog.Logger }

// benign are SDK warnings that say nothing is wrong: every read looks for a
// failover file that users of this package never create.
var benign = []string{"_failover", "file doesn't exist"}

func (a *sdkLogger) out(loud bool, sdkLevel, line string) {
	for _, b := range benign {
		if loud && strings.Contains(line, b) {
			loud = false
		}
	}
	l := a.target
	if l == nil {
		l = slog.Default()
	}
	level := slog.LevelDebug
	if loud {
		sdkLog.mu.Lock()
		if time.Since(sdkLog.lastLoud) >= 10*time.Second {
			sdkLog.lastLoud, level = time.Now(), slog.LevelWarn
		}
		sdkLog.mu.Unlock()
	}
	if !l.Enabled(context.Background(), level) {
		return
	}
	if first, _, cut := strings.Cut(line, "\n"); cut && level > slog.LevelDebug {
		line = first + " (stack trace at debug)" // the SDK's errors print their stacks
	}
	l.Log(context.Background(), level, scrub(line), "component", "nacos-sdk", "sdk_level", sdkLevel)
}

func (a *sdkLogger) Info(args ...any)  { a.out(false, "info", fmt.Sprint(args...)) }
func (a *sdkLogger) Warn(args ...any)  { a.out(true, "warn", fmt.Sprint(args...)) }
func (a *sdkLogger) Error(args ...any) { a.out(true, "error", fmt.Sprint(args...)) }
func (a *sdkLogger) Debug(args ...any) { a.out(false, "debug", fmt.Sprint(args...)) }
func (a *sdkLogger) Infof(format string, args ...any) {
	a.out(false, "info", fmt.Sprintf(format, args...))
}
func (a *sdkLogger) Warnf(format string, args ...any) {
	a.out(true, "warn", fmt.Sprintf(format, args...))
}
func (a *sdkLogger) Errorf(format string, args ...any) {
	a.out(true, "error", fmt.Sprintf(format, args...))
}
func (a *sdkLogger) Debugf(format string, args ...any) {
	a.out(false, "debug", fmt.Sprintf(format, args...))
}
func (a *sdkLogger) Close() error { return nil }
