package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// NacosConfig names one config of a Nacos-protocol server: the namespace id
// ("" is the public namespace), the group and the data id.
type NacosConfig struct {
	Namespace, Group, DataID string
}

func (c NacosConfig) form() url.Values {
	v := url.Values{"dataId": {c.DataID}, "group": {c.Group}}
	if c.Namespace != "" {
		v.Set("tenant", c.Namespace)
	}
	return v
}

// nacosAPI calls the Nacos 1.x open API over HTTP, which both Nacos and
// Polaris serve: what operators' scripts and curl use to change configs.
type nacosAPI struct {
	base string // http://host:port/nacos
	// login returns an access token, or "" when the server has no auth.
	login func(ctx context.Context) (string, error)
}

func (a nacosAPI) call(ctx context.Context, method, path string, form url.Values) (int, string, error) {
	if a.login != nil {
		token, err := a.login(ctx)
		if err != nil {
			return 0, "", err
		}
		if token != "" {
			form.Set("accessToken", token)
		}
	}
	u := a.base + path
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else {
		u += "?" + form.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, string(b), err
}

// ErrNacosConfigMissing is returned by GetConfig when the config does not exist.
var ErrNacosConfigMissing = errors.New("nacos config not found")

func (a nacosAPI) put(ctx context.Context, c NacosConfig, content string) error {
	form := c.form()
	form.Set("content", content)
	code, body, err := a.call(ctx, http.MethodPost, "/v1/cs/configs", form)
	if err != nil {
		return fmt.Errorf("nacos publish %s: %w", c.DataID, err)
	}
	if code != http.StatusOK || strings.TrimSpace(body) != "true" {
		return fmt.Errorf("nacos publish %s: %d: %s", c.DataID, code, body)
	}
	return nil
}

func (a nacosAPI) get(ctx context.Context, c NacosConfig) (string, error) {
	code, body, err := a.call(ctx, http.MethodGet, "/v1/cs/configs", c.form())
	if err != nil {
		return "", fmt.Errorf("nacos get %s: %w", c.DataID, err)
	}
	switch code {
	case http.StatusOK:
		return body, nil
	case http.StatusNotFound:
		return "", fmt.Errorf("%w: %s", ErrNacosConfigMissing, c.DataID)
	}
	return "", fmt.Errorf("nacos get %s: %d: %s", c.DataID, code, body)
}

func (a nacosAPI) remove(ctx context.Context, c NacosConfig) error {
	code, body, err := a.call(ctx, http.MethodDelete, "/v1/cs/configs", c.form())
	if err != nil {
		return fmt.Errorf("nacos delete %s: %w", c.DataID, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("nacos delete %s: %d: %s", c.DataID, code, body)
	}
	return nil
}

func (s *NacosServer) api() nacosAPI {
	return nacosAPI{base: s.BaseURL, login: func(ctx context.Context) (string, error) {
		if s.Password == "" {
			return "", nil
		}
		return s.Login(ctx, s.User, s.Password)
	}}
}

// PutConfig publishes content as c over the HTTP open API, the way an
// operator's script does (as the configured user when auth is on).
func (s *NacosServer) PutConfig(ctx context.Context, c NacosConfig, content string) error {
	return s.api().put(ctx, c, content)
}

// GetConfig reads c over the HTTP open API; a missing config returns an
// error wrapping ErrNacosConfigMissing. Nacos serves reads from a cache that
// a publish refreshes asynchronously: a read right after a write may still
// return the old content.
func (s *NacosServer) GetConfig(ctx context.Context, c NacosConfig) (string, error) {
	return s.api().get(ctx, c)
}

// DeleteConfig removes c over the HTTP open API.
func (s *NacosServer) DeleteConfig(ctx context.Context, c NacosConfig) error {
	return s.api().remove(ctx, c)
}

// CreateNamespace creates a namespace with the given id, as the console
// does. With auth on it needs the global admin "nacos", whose password the
// harness sets to the configured one.
func (s *NacosServer) CreateNamespace(ctx context.Context, id, name string) error {
	a := nacosAPI{base: s.BaseURL, login: func(ctx context.Context) (string, error) {
		if s.Password == "" {
			return "", nil
		}
		return s.Login(ctx, "nacos", s.Password)
	}}
	code, body, err := a.call(ctx, http.MethodPost, "/v1/console/namespaces",
		url.Values{"customNamespaceId": {id}, "namespaceName": {name}, "namespaceDesc": {name}})
	if err != nil {
		return fmt.Errorf("nacos create namespace %s: %w", id, err)
	}
	if code != http.StatusOK || strings.TrimSpace(body) != "true" {
		return fmt.Errorf("nacos create namespace %s: %d: %s", id, code, body)
	}
	return nil
}
