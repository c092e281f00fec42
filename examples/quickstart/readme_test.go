package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeBlocks returns the sh code blocks of the README section that starts
// with heading, each as its lines.
func readmeBlocks(t *testing.T, heading string) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "\n"+heading)
	if i < 0 {
		t.Fatalf("README has no section %q", heading)
	}
	text = text[i+1:]
	if j := strings.Index(text[len(heading):], "\n## "); j >= 0 {
		text = text[:len(heading)+j]
	}
	var blocks [][]string
	for {
		start := strings.Index(text, "```sh\n")
		if start < 0 {
			return blocks
		}
		text = text[start+len("```sh\n"):]
		end := strings.Index(text, "```")
		blocks = append(blocks, strings.Split(strings.TrimSuffix(text[:end], "\n"), "\n"))
		text = text[end+3:]
	}
}

var (
	seqLoop  = regexp.MustCompile(`^for i in \$\(seq (\d+)\); do `)
	listLoop = regexp.MustCompile(`^for i in ([^;]+); do `)
	header   = regexp.MustCompile(`-H '([^:']+): ([^']*)'`)
	target   = regexp.MustCompile(`localhost:8080(/[^ ;']*)`)
	sleepCmd = regexp.MustCompile(`^sleep (\d+)$`)
)

// TestReadmeRateLimitWalkthrough replays the Quickstart's curl loops against
// the service with the repository's rules file, on a manual clock that only
// the README's sleep moves, and checks every status code the README shows.
func TestReadmeRateLimitWalkthrough(t *testing.T) {
	blocks := readmeBlocks(t, "## Quickstart")
	var walk []string
	for _, b := range blocks {
		if len(b) > 0 && strings.Contains(b[0], "/hello") {
			walk = b
			break
		}
	}
	if walk == nil {
		t.Fatal("the Quickstart has no block of requests to /hello")
	}
	rules, err := os.ReadFile("rules.json")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, string(rules))
	for i := 0; i < len(walk); i++ {
		line := strings.TrimSpace(walk[i])
		if m := sleepCmd.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			h.clock.Advance(time.Duration(n) * time.Second)
			continue
		}
		if !strings.Contains(line, "curl ") {
			continue
		}
		count := 1
		if m := seqLoop.FindStringSubmatch(line); m != nil {
			count, _ = strconv.Atoi(m[1])
		} else if m := listLoop.FindStringSubmatch(line); m != nil {
			count = len(strings.Fields(m[1]))
		}
		path := target.FindStringSubmatch(line)
		if path == nil {
			t.Fatalf("README line %q: no localhost:8080 URL", line)
		}
		var hdr []string
		for _, m := range header.FindAllStringSubmatch(line, -1) {
			hdr = append(hdr, m[1], m[2])
		}
		var got []string
		for range count {
			got = append(got, strconv.Itoa(h.do("GET", path[1], "", hdr...).StatusCode))
		}
		if i+1 >= len(walk) || !strings.HasPrefix(strings.TrimSpace(walk[i+1]), "# ") {
			t.Fatalf("README line %q: no '# <status codes>' line after it shows what it answers (it answers %s)", line, strings.Join(got, " "))
		}
		i++
		want := strings.Fields(strings.TrimPrefix(strings.TrimSpace(walk[i]), "# "))
		if len(want) > len(got) {
			want = want[:len(got)]
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("README line %q shows %s; the service answers %s", line, strings.Join(want, " "), strings.Join(got, " "))
		}
	}
}

// TestReadmeAdminSteps runs the Quickstart's admin commands, as written, with
// bash and curl against the service: the ETag one-liner must give a PUT that
// succeeds.
func TestReadmeAdminSteps(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	var admin []string
	for _, b := range readmeBlocks(t, "## Quickstart") {
		if len(b) > 0 && strings.Contains(b[0], "/admin/rules") {
			admin = b
			break
		}
	}
	if admin == nil {
		t.Fatal("the Quickstart has no block of admin commands")
	}
	// Everything up to the PUT and its continuation lines.
	var script []string
	for i, l := range admin {
		script = append(script, l)
		if strings.Contains(l, "-X PUT") {
			for j := i; strings.HasSuffix(strings.TrimSpace(admin[j]), `\`) && j+1 < len(admin); j++ {
				script = append(script, admin[j+1])
			}
			break
		}
	}
	h := newHarness(t, `[{"resource":"GET:/hello","count":5}]`)
	host := strings.TrimPrefix(h.http.URL, "http://")
	text := strings.ReplaceAll(strings.Join(script, "\n"), "localhost:8080", host)
	out, err := exec.Command(bash, "-euo", "pipefail", "-c", text).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, text, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; last != "200" {
		t.Fatalf("the README's PUT answered %s:\n%s\n%s", last, text, out)
	}
	if got := h.passes(12); got != 10 {
		t.Fatalf("after the README's PUT: %d of 12 passed, want 10", got)
	}
}
