package harness

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The harness talks to etcd through the JSON gateway that etcd serves on its
// client URL (/v3/..., the gRPC API as JSON over HTTP, with byte fields in
// base64), not through the Go client: that would make the etcd client, gRPC
// and their dependencies requirements of every module whose tests use the
// harness. etcd 3.4 (Debian) and the 3.5 image both serve it.

// etcdHTTP opens a fresh connection for every call, as the readiness probe
// did with a client per attempt: a connection kept from before a Kill or
// Pause would only fail the next call.
var etcdHTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// etcdMaxResponse bounds a gateway response; the harness reads tiny ones.
const etcdMaxResponse = 1 << 20

// etcdError is an error answer of the gateway: the gRPC status as JSON.
type etcdError struct {
	Status  int    `json:"-"` // HTTP status
	Message string `json:"message"`
	Code    int    `json:"code"` // gRPC code
}

func (e *etcdError) Error() string {
	return fmt.Sprintf("%s (HTTP %d, gRPC code %d)", e.Message, e.Status, e.Code)
}

// etcdErrorIs reports whether err is a gateway error whose message contains
// text, the way etcd's own client recognises its errors (by description).
func etcdErrorIs(err error, text string) bool {
	var e *etcdError
	return errors.As(err, &e) && strings.Contains(e.Message, text)
}

// etcdCall posts req as JSON to path on endpoint, with token as the
// Authorization header unless it is empty, and decodes the answer into resp
// unless resp is nil.
func etcdCall(ctx context.Context, endpoint, token, path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	res, err := etcdHTTP.Do(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, etcdMaxResponse))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", path, err)
	}
	if res.StatusCode != http.StatusOK {
		e := &etcdError{Status: res.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return e
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(data, resp); err != nil {
		return fmt.Errorf("%s: decode answer: %w", path, err)
	}
	return nil
}

// etcdAuthenticate returns a token for user.
func etcdAuthenticate(ctx context.Context, endpoint, user, password string) (string, error) {
	var resp struct {
		Token string `json:"token"`
	}
	err := etcdCall(ctx, endpoint, "", "/v3/auth/authenticate", map[string]string{"name": user, "password": password}, &resp)
	if err != nil {
		return "", fmt.Errorf("authenticate %s: %w", user, err)
	}
	if resp.Token == "" {
		return "", fmt.Errorf("authenticate %s: no token in the answer (is auth enabled?)", user)
	}
	return resp.Token, nil
}

// etcdGet reads key (a linearizable range) and returns its values: none
// when the key does not exist.
func etcdGet(ctx context.Context, endpoint, token, key string) ([][]byte, error) {
	var resp struct {
		Kvs []struct {
			Value []byte `json:"value"` // base64 in JSON, as encoding/json expects
		} `json:"kvs"`
	}
	req := map[string]string{"key": base64.StdEncoding.EncodeToString([]byte(key))}
	if err := etcdCall(ctx, endpoint, token, "/v3/kv/range", req, &resp); err != nil {
		return nil, fmt.Errorf("range %s: %w", key, err)
	}
	values := make([][]byte, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		values = append(values, kv.Value)
	}
	return values, nil
}
