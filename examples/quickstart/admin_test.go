package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rulesync/rulesync/datasource"
)

// call is do with the response body.
func (h *harness) call(method, path, body string, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.http.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (h *harness) status() map[string]any {
	h.t.Helper()
	_, body := h.call("GET", "/admin/status", "")
	var st map[string]any
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		h.t.Fatalf("status %q: %v", body, err)
	}
	return st
}

func (h *harness) logText() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs.String()
}

func (h *harness) linesWith(s string) []string {
	var out []string
	for _, l := range strings.Split(h.logText(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

func (h *harness) fileContent() string {
	h.t.Helper()
	data, err := os.ReadFile(h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(data)
}

// A rules file that does not exist yet starts the service with no rules;
// creating it applies it.
func TestMissingRulesFileStartsEmptyAndIsPickedUp(t *testing.T) {
	h := newHarnessAt(t, filepath.Join(t.TempDir(), "none.json"), nil)
	if st := h.status(); st["rules"] != 0.0 || st["exists"] != false {
		t.Fatalf("status = %v", st)
	}
	if got := h.passes(5); got != 5 {
		t.Fatalf("with no rules: %d of 5 passed", got)
	}
	n := h.eventCount()
	h.edit(`[{"resource":"GET:/hello","count":2}]`)
	h.waitEvent(datasource.Updated, n)
	if got := h.passes(5); got != 2 {
		t.Fatalf("after the file appeared: %d of 5 passed, want 2", got)
	}
}

// Clearing the rules through the admin API takes an explicit []: an empty
// body is a mistake, not a request to drop every limit.
func TestPutEmptyBodyIsRejected(t *testing.T) {
	h := newHarness(t, `[{"resource":"GET:/hello","count":2}]`)
	before := h.fileContent()
	for _, body := range []string{"", "  \n", "null"} {
		resp, out := h.call("PUT", "/admin/rules", body, "If-Match", "*")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(out, "[]") {
			t.Errorf("PUT %q: %d %s; want 400 saying to send []", body, resp.StatusCode, out)
		}
	}
	if h.fileContent() != before {
		t.Fatalf("the file changed: %s", h.fileContent())
	}
	if got := h.passes(5); got != 2 {
		t.Fatalf("limits after the refused PUTs: %d of 5 passed, want 2", got)
	}
	if resp, out := h.call("PUT", "/admin/rules", "[]", "If-Match", "*"); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT []: %d %s", resp.StatusCode, out)
	}
	if got := h.passes(5); got != 5 {
		t.Fatalf("after PUT []: %d of 5 passed, want 5", got)
	}
}

// The write path reports what the read path reports: unknown keys and notes
// come back in the response.
func TestPutReportsUnknownKeysAndNotes(t *testing.T) {
	h := newHarness(t, `[{"resource":"GET:/hello","count":2}]`)
	resp, out := h.call("PUT", "/admin/rules", `[{"resource":"GET:/hello","count":2,"cuont":4}]`, "If-Match", "*")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, out)
	}
	var got struct {
		Applied int `json:"applied"`
		Report  struct {
			UnknownKeys []struct {
				Index int    `json:"index"`
				Key   string `json:"key"`
			} `json:"unknownKeys"`
			Notes []string `json:"notes"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Applied != 1 || len(got.Report.UnknownKeys) != 1 || got.Report.UnknownKeys[0].Key != "cuont" {
		t.Fatalf("PUT with an unknown key: %s", out)
	}
	_, out = h.call("PUT", "/admin/rules", `{"resource":"GET:/hello","count":3}`, "If-Match", "*")
	if !strings.Contains(out, "single rule object") {
		t.Fatalf("PUT of one object: the note is not in the response: %s", out)
	}
}

// Truncating the watched file clears every rule, as documented, and says so
// loudly: a WARN line with the count, and /admin/status.
func TestTruncatedFileWarnsAndShowsInStatus(t *testing.T) {
	h := newHarness(t, `[{"resource":"GET:/hello","count":2},{"resource":"GET:/hello","count":1,"limitApp":"x"}]`)
	n := h.eventCount()
	h.edit("")
	h.waitEvent(datasource.Updated, n)
	lines := h.linesWith("removed=2")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") {
		t.Fatalf("want one WARN line with removed=2, got %q\n%s", lines, h.logText())
	}
	if st := h.status(); st["rules"] != 0.0 || st["cleared"] != 2.0 {
		t.Fatalf("status after truncation: %v", st)
	}
}

// During a broken file the ETag is the revision of the rules in force, and
// status names the broken revision and its error apart from it; a PUT
// against the rules in force is told what the file holds.
func TestBrokenFileStatusTellsRevisionsApart(t *testing.T) {
	good := `[{"resource":"GET:/hello","count":2}]`
	h := newHarness(t, good)
	goodETag, _ := h.call("GET", "/admin/rules", "")
	n := h.eventCount()
	h.edit(`[{"resource":"GET:/hello","count":1}`)
	h.waitEvent(datasource.Unreadable, n)

	resp, body := h.call("GET", "/admin/rules", "")
	if et := resp.Header.Get("ETag"); et != goodETag.Header.Get("ETag") {
		t.Errorf("ETag during a broken file = %s, want the rules' own %s", et, goodETag.Header.Get("ETag"))
	}
	if !strings.Contains(body, `"count": 2`) {
		t.Errorf("GET during a broken file: %s", body)
	}
	st := h.status()
	inForce, _ := st["revision"].(string)
	latest, _ := st["latestRevision"].(string)
	if inForce == "" || latest == "" || inForce == latest || st["latestError"] == nil || st["rules"] != 1.0 {
		t.Fatalf("status during a broken file does not tell the revisions apart: %v", st)
	}
	if goodETag.Header.Get("ETag") != `"`+inForce+`"` {
		t.Errorf("status revision %s is not the ETag's %s", inForce, goodETag.Header.Get("ETag"))
	}
	resp, out := h.call("PUT", "/admin/rules", good, "If-Match", goodETag.Header.Get("ETag"))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(out, latest) {
		t.Errorf("PUT against the rules in force while the file is broken: %d %s; want 409 naming the file's revision", resp.StatusCode, out)
	}
}

// A broken file at startup: the service starts with no rules, and does not
// claim that earlier limits stay in force.
func TestBrokenFileAtStartupSaysNoRulesInForce(t *testing.T) {
	broken := `[{"resource":"GET:/hello","count":1}`
	h := newHarnessAt(t, filepath.Join(t.TempDir(), "rules.json"), &broken)
	if strings.Contains(h.logText(), "stay in force") {
		t.Errorf("logs claim previous limits at startup:\n%s", h.logText())
	}
	if lines := h.linesWith("no rules are in force"); len(lines) != 1 {
		t.Errorf("want one line saying no rules are in force, got %q\n%s", lines, h.logText())
	}
	if got := h.passes(3); got != 3 {
		t.Fatalf("with no rules: %d of 3 passed", got)
	}
	n := h.eventCount()
	h.edit(`[{"resource":"GET:/hello","count":1}]`)
	h.waitEvent(datasource.Loaded, n)
	if got := h.passes(3); got != 1 {
		t.Fatalf("after the fix: %d of 3 passed, want 1", got)
	}
}

// One event, one log line, across every layer the example wires up.
func TestOneLogLinePerEventInTheService(t *testing.T) {
	h := newHarness(t, `[{"resource":"GET:/hello","count":2},{"resource":"","count":1}]`)
	if lines := h.linesWith("resource is blank"); len(lines) != 1 {
		t.Errorf("a partly rejected file: its report is in %d lines, want 1:\n%s", len(lines), h.logText())
	}
	if lines := h.linesWith("applied"); len(lines) != 1 {
		t.Errorf("one apply: %d lines, want 1:\n%s", len(lines), h.logText())
	}
	n := h.eventCount()
	h.edit(`[{"resource":"GET:/hello","count":1}`)
	h.waitEvent(datasource.Unreadable, n)
	lines := h.linesWith("unexpected end of input")
	if len(lines) != 1 {
		t.Fatalf("an unreadable file: its error is in %d lines, want 1:\n%s", len(lines), h.logText())
	}
	st := h.status()
	rev := st["latestRevision"]
	if rev == nil {
		rev = st["revision"]
	}
	if r, _ := rev.(string); r == "" || strings.Count(lines[0], r) != 1 {
		t.Errorf("the line names revision %v other than once: %s", rev, lines[0])
	}
}

// JSON replies keep <, > and & as they are.
func TestRepliesAreNotHTMLEscaped(t *testing.T) {
	h := newHarness(t, `[]`)
	_, out := h.call("PUT", "/admin/rules", `[{"resource":"GET:/a>b","count":-1}]`, "If-Match", "*")
	if !strings.Contains(out, "GET:/a>b") || strings.Contains(out, `\u003e`) {
		t.Fatalf("reply = %s", out)
	}
}

// The admin API writes the file as canonical, indented Sentinel JSON that
// reads back to the same rules.
func TestPutWritesIndentedJSON(t *testing.T) {
	h := newHarness(t, "[\n  {\"resource\": \"GET:/hello\", \"count\": 2}\n]\n")
	if resp, out := h.call("PUT", "/admin/rules", `[{"resource":"GET:/hello","count":3}]`, "If-Match", "*"); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, out)
	}
	data := h.fileContent()
	if !strings.Contains(data, "\n  {\n    \"resource\": \"GET:/hello\",\n") || !strings.HasSuffix(data, "]\n") {
		t.Fatalf("written file is not indented JSON:\n%s", data)
	}
	rules, rep, err := h.srv.codec.Decode([]byte(data))
	if err != nil || !rep.Clean() || len(rules) != 1 || rules[0].Count != 3 {
		t.Fatalf("written file reads back as %v %v %v", rules, rep, err)
	}
}

// What a PUT leaves beside the rules file is ignored by git: running the
// quickstart from a checkout leaves git status clean.
func TestPutLeavesNothingForGitStatus(t *testing.T) {
	gitTool, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git on PATH")
	}
	root, err := exec.Command(gitTool, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not in a git checkout")
	}
	dir := t.TempDir()
	h := newHarnessAt(t, filepath.Join(dir, "rules.json"), new(string))
	if resp, out := h.call("PUT", "/admin/rules", `[{"resource":"GET:/hello","count":3}]`, "If-Match", "*"); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, out)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "rules.json" {
			continue
		}
		// The same name beside the example's own rules file, as git sees it.
		rel := filepath.ToSlash(filepath.Join("examples", "quickstart", e.Name()))
		cmd := exec.Command(gitTool, "check-ignore", "-q", "--no-index", rel)
		cmd.Dir = strings.TrimSpace(string(root))
		if err := cmd.Run(); err != nil {
			t.Errorf("a PUT leaves %s beside the rules file, and git does not ignore it", e.Name())
		}
	}
}
