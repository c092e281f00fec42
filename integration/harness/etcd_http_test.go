package harness

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// etcdPut stores key=value through the gateway.
func etcdPut(ctx context.Context, endpoint, token, key, value string) error {
	return etcdCall(ctx, endpoint, token, "/v3/kv/put", map[string]string{
		"key":   base64.StdEncoding.EncodeToString([]byte(key)),
		"value": base64.StdEncoding.EncodeToString([]byte(value)),
	}, nil)
}

// With WithPassword the harness turns auth on through the gateway: the user
// can authenticate, anonymous and wrong-password requests are refused, and
// all of it, with the data, survives a Kill and Restart.
func TestEtcdAuthThroughGateway(t *testing.T) {
	s := Etcd(t, WithPassword("s3cret"))
	if s.User != "root" || s.Password != "s3cret" {
		t.Fatalf("credentials %q/%q, want root/s3cret", s.User, s.Password)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ep := s.Endpoints[0]
	token, err := etcdAuthenticate(ctx, ep, "root", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if err := etcdPut(ctx, ep, token, "k", "v"); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := etcdPut(ctx, ep, "", "k", "anonymous"); !etcdErrorIs(err, "user name is empty") {
		t.Fatalf("anonymous put: %v, want refused", err)
	}
	_, err = etcdAuthenticate(ctx, ep, "root", "wrong")
	if !etcdErrorIs(err, "authentication failed") {
		t.Fatalf("wrong password: %v, want authentication failed", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error %q carries the password", err)
	}

	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	// The readiness probe authenticated, and a fresh token reads the data.
	if token, err = s.token(ctx); err != nil {
		t.Fatal(err)
	}
	values, err := etcdGet(ctx, ep, token, "k")
	if err != nil || len(values) != 1 || string(values[0]) != "v" {
		t.Fatalf("after restart: %q %v, want [v]", values, err)
	}
	if values, err := etcdGet(ctx, ep, token, "missing"); err != nil || len(values) != 0 {
		t.Fatalf("missing key: %q %v, want none", values, err)
	}
}

// Without auth the probe reads anonymously and a paused server makes it
// fail (the context ends) instead of hanging.
func TestEtcdProbe(t *testing.T) {
	s := Etcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.probe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	defer s.Resume()
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if err := s.probe(short); err == nil {
		t.Fatal("probe of a paused server succeeded")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := s.probe(ctx); err != nil {
		t.Fatalf("after resume: %v", err)
	}
}

// WithUser names the user; etcd also needs a root user before auth can be
// enabled, which the harness creates with the same password.
func TestEtcdWithUser(t *testing.T) {
	s := Etcd(t, WithUser("alice"), WithPassword("s3cret"))
	if s.User != "alice" {
		t.Fatalf("user %q, want alice", s.User)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token, err := etcdAuthenticate(ctx, s.Endpoints[0], "alice", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if err := etcdPut(ctx, s.Endpoints[0], token, "k", "v"); err != nil {
		t.Fatalf("put as alice: %v", err)
	}
}
