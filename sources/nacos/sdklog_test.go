package nacos

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/nacos-group/nacos-sdk-go/v2/common/logger"

	"github.com/rulesync/rulesync/datasource"
)

// Lines in the shapes the SDK prints (http_agent's failed requests, the rpc
// client's failed requests, a ConfigQueryRequest's headers) lose their
// credentials, and a registered secret goes wherever it appears.
func TestSDKLogScrubs(t *testing.T) {
	var buf bytes.Buffer
	SetSDKLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { SetSDKLogger(nil) })
	secrets := datasource.Secrets{"pw-4711", "sk-0815"}
	registerSecrets(secrets)
	defer unregisterSecrets(secrets)
	l := logger.GetLogger()
	l.Errorf("request method[%s],request path[%s],header:[%s],params:[%s],err:%+v", "POST", "/nacos/v1/auth/users/login",
		`{"content-type":["application/x-www-form-urlencoded"]}`, `{"password":"pw-4711","username":"rules"}`, "connection refused")
	l.Errorf("Send request fail, request=%s, body=%s", "ConfigQueryRequest", `{"headers":{"accessToken":"eyJhbGciOiJIUzI1NiJ9.abc","app":"x"},"dataId":"d"}`)
	l.Debugf("request=%+v", map[string]string{"accessToken": "tok-123", "Spas-Signature": "sig-9"})
	l.Info("signing with sk-0815 for ak ak-1")
	out := buf.String()
	for _, leak := range []string{"pw-4711", "eyJhbGciOiJIUzI1NiJ9.abc", "tok-123", "sig-9", "sk-0815"} {
		if strings.Contains(out, leak) {
			t.Errorf("SDK log shows %q:\n%s", leak, out)
		}
	}
	if n := strings.Count(out, "REDACTED"); n < 5 {
		t.Errorf("%d redactions, want 5:\n%s", n, out)
	}
	// Errors go out at warn once per 10 s, the rest at debug.
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("%d warn lines, want 1:\n%s", n, out)
	}
	l.Warnf("read Config Content failed. cause file doesn't exist, file path: /x/config/d@@g@@_failover.")
	if out = buf.String(); strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "_failover") {
		t.Errorf("the failover lookup is not debug:\n%s", out)
	}
	if !strings.Contains(out, `username\":\"rules`) || !strings.Contains(out, "ak-1") {
		t.Errorf("scrubbing removed more than the credentials:\n%s", out)
	}
}
