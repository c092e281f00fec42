package apollo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
	"unicode/utf16"

	"github.com/rulesync/rulesync/datasource"
)

// maxValue is Apollo's default limit on an item's value, in Java chars
// (UTF-16 code units): item.value.length.limit.
const maxValue = 20000

// item is an OpenAPI item (OpenItemDTO), as far as rulesync uses it.
type item struct {
	Key                      string `json:"key"`
	Value                    string `json:"value"`
	Comment                  string `json:"comment"`
	DataChangeCreatedBy      string `json:"dataChangeCreatedBy,omitempty"`
	DataChangeLastModifiedBy string `json:"dataChangeLastModifiedBy,omitempty"`
}

// release is the part of an OpenAPI release (OpenReleaseDTO) rulesync reads;
// nil means the namespace has none.
type release struct {
	Configurations map[string]string `json:"configurations"`
}

func (r *release) value(key string) (string, bool) {
	if r == nil {
		return "", false
	}
	v, ok := r.Configurations[key]
	return v, ok
}

// Write stores data in the item and releases the namespace through the
// OpenAPI, if the released item is still at revision expect ("" = absent,
// datasource.AnyRevision = anything). Apollo has no compare-and-set, so the
// source checks around each step (see the package doc) and returns an error
// wrapping datasource.ErrConflict when another writer may have come between.
func (s *Source) Write(ctx context.Context, data []byte, expect string) (datasource.Snapshot, error) {
	if s.closed.Load() {
		return datasource.Snapshot{}, datasource.ErrClosed
	}
	if s.cfg.Portal == "" {
		return datasource.Snapshot{}, fmt.Errorf("apollo: no portal configured: %w", datasource.ErrNotWritable)
	}
	value := string(data)
	if n := len(utf16.Encode([]rune(value))); n > maxValue {
		return datasource.Snapshot{}, fmt.Errorf("apollo: item %q: %d characters, Apollo's limit is %d: %w", s.cfg.Key, n, maxValue, datasource.ErrTooLarge)
	}
	what := fmt.Sprintf("apollo: item %q of %s/%s/%s", s.cfg.Key, s.cfg.AppID, s.cfg.Cluster, s.cfg.Namespace)
	conflict := func(format string, args ...any) (datasource.Snapshot, error) {
		return datasource.Snapshot{}, fmt.Errorf("%s: "+format+": %w", append(append([]any{what}, args...), datasource.ErrConflict)...)
	}
	// 1. The release first: an item edited and released after this read
	// shows in the items read next.
	before, err := s.latest(ctx)
	if err != nil {
		return datasource.Snapshot{}, err
	}
	var ns struct{ Items []item }
	if err := s.openapi(ctx, http.MethodGet, "", nil, nil, &ns); err != nil {
		return datasource.Snapshot{}, err
	}
	if err := datasource.CheckExpected(what, snapshotOf(before.value(s.cfg.Key)), expect); err != nil {
		return datasource.Snapshot{}, err
	}
	if pending := s.pending(ns.Items, before); len(pending) > 0 {
		return conflict("unreleased edits in the namespace (%v) that a release would publish; release or discard them in the portal", pending)
	}
	// 2. The update, marked with a comment of its own: values can be equal,
	// comments tell whose update the item holds.
	mark := "rulesync " + randomMark()
	if err := s.put(ctx, value, mark); err != nil {
		return datasource.Snapshot{}, err
	}
	// 3. Nobody updated the item after us, and nobody released since step 1.
	if !s.holds(ctx, mark) {
		return conflict("updated by someone else right after this write; theirs stands")
	}
	mid, err := s.latest(ctx)
	if err != nil {
		return datasource.Snapshot{}, err
	}
	v0, ok0 := before.value(s.cfg.Key)
	if v, ok := mid.value(s.cfg.Key); (ok != ok0 || v != v0) && !(ok && v == value) {
		// Our update may have overwritten what that release published: put
		// the released value back unless yet another update came.
		put := "not needed"
		if s.holds(ctx, mark) {
			if ok {
				err = s.put(ctx, v, "rulesync: put back")
			} else {
				err = s.openapi(ctx, http.MethodDelete, "/items/"+url.PathEscape(s.cfg.Key), url.Values{"operator": {s.cfg.Operator}}, nil, nil)
			}
			put = fmt.Sprint(err)
		}
		return conflict("released by someone else while this write was under way (put back: %s)", put)
	}
	// 4. The release, which must carry our value. A release publishes every
	// pending update, checked or not: release only while the item still
	// holds ours.
	if !s.holds(ctx, mark) {
		return conflict("updated by someone else before the release; theirs stands")
	}
	var after release
	title := time.Now().UTC().Format("20060102150405") + "-rulesync"
	body := map[string]string{"releaseTitle": title, "releaseComment": "rulesync: " + s.cfg.Key, "releasedBy": s.cfg.Operator}
	if err := s.openapi(ctx, http.MethodPost, "/releases", nil, body, &after); err != nil {
		return datasource.Snapshot{}, err
	}
	if v, ok := after.value(s.cfg.Key); !ok || v != value {
		return conflict("the release carries another writer's value, which is in force")
	}
	return datasource.ContentSnapshot(bytes.Clone(data)), nil
}

// holds reports whether the item still carries the comment mark of our update.
func (s *Source) holds(ctx context.Context, mark string) bool {
	var cur item
	return s.openapi(ctx, http.MethodGet, "/items/"+url.PathEscape(s.cfg.Key), nil, nil, &cur) == nil && cur.Comment == mark
}

func randomMark() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// snapshotOf is the snapshot of a released value (ok false: absent).
func snapshotOf(v string, ok bool) datasource.Snapshot {
	if !ok {
		return datasource.Snapshot{}
	}
	return datasource.ContentSnapshot([]byte(v))
}

// pending lists the keys whose item differs from the release rel, edited by
// another user than the operator; deleted items are missing from items.
// Edits by the operator are another rulesync write in flight (or the
// leftover of one that failed), which this write may overwrite or publish.
func (s *Source) pending(items []item, rel *release) []string {
	var keys []string
	seen := map[string]bool{}
	for _, it := range items {
		if it.Key == "" { // a comment or blank line
			continue
		}
		seen[it.Key] = true
		if v, ok := rel.value(it.Key); (!ok || v != it.Value) && it.DataChangeLastModifiedBy != s.cfg.Operator {
			keys = append(keys, it.Key+" by "+it.DataChangeLastModifiedBy)
		}
	}
	if rel != nil {
		for k := range rel.Configurations {
			if !seen[k] && k != s.cfg.Key {
				keys = append(keys, k+" (deleted)")
			}
		}
	}
	slices.Sort(keys)
	return keys
}

func (s *Source) put(ctx context.Context, value, comment string) error {
	it := item{Key: s.cfg.Key, Value: value, Comment: comment, DataChangeCreatedBy: s.cfg.Operator, DataChangeLastModifiedBy: s.cfg.Operator}
	return s.openapi(ctx, http.MethodPut, "/items/"+url.PathEscape(s.cfg.Key), url.Values{"createIfNotExists": {"true"}}, it, nil)
}

// latest returns the namespace's latest active release, nil when it has none.
func (s *Source) latest(ctx context.Context) (*release, error) {
	var r release
	if err := s.openapi(ctx, http.MethodGet, "/releases/latest", nil, nil, &r); err != nil {
		return nil, err
	}
	if r.Configurations == nil {
		return nil, nil
	}
	return &r, nil
}

// openapi calls the portal's OpenAPI under the source's namespace. A 404 is
// an error here: the namespace (or, for an item, the key) does not exist.
func (s *Source) openapi(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := fmt.Sprintf("%s/openapi/v1/envs/%s/apps/%s/clusters/%s/namespaces/%s%s", s.cfg.Portal, url.PathEscape(s.cfg.Env),
		url.PathEscape(s.cfg.AppID), url.PathEscape(s.cfg.Cluster), url.PathEscape(s.cfg.Namespace), path)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in) // items and release requests always marshal
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("apollo: %w", err)
	}
	req.Header.Set("Authorization", s.cfg.Token)
	req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	status, answer, err := s.do(req)
	switch {
	case err != nil:
		return err
	case status == http.StatusNotFound:
		return fmt.Errorf("apollo: %s %s: 404 Not Found (does the namespace exist in env %s?)", method, req.URL.Path, s.cfg.Env)
	case out != nil && len(bytes.TrimSpace(answer)) > 0:
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("apollo: %s %s: bad answer: %w", method, req.URL.Path, err)
		}
	}
	return nil
}
