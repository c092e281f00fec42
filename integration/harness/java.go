package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rulesync/rulesync/internal/syncbuf"
)

// Env variables read by Java.
const (
	// EnvJavaJar names a prebuilt interop jar to use instead of the one
	// scripts/setup-java.sh builds into the cache.
	EnvJavaJar = "RULESYNC_JAVA_JAR"
	// EnvJavaOpts holds extra JVM options, split on spaces (for example a
	// CDS archive or -Xlog flags while debugging).
	EnvJavaOpts = "RULESYNC_JAVA_OPTS"
)

// javaReadyTimeout bounds JVM start to READY. A JVM takes about a second here
// but far longer on a loaded two-core machine, and a Java datasource may spend
// its first seconds connecting.
const javaReadyTimeout = 2 * time.Minute

// javaDefaultOpts keep each JVM small and quick to start (the tests run many
// of them side by side on two cores) and pin the default charset: before
// JDK 18 it follows the locale, and Sentinel's cluster codec encodes strings
// (namespace, string params) with String.getBytes() in that charset, so under
// LANG=C a non-ASCII value goes out as '?'.
// JVM warnings go to stderr (-Xlog's default is stdout, the protocol's).
var javaDefaultOpts = []string{"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", "-Xmx256m",
	"-Dfile.encoding=UTF-8", "-Xlog:all=warning:stderr"}

// errJavaExited: the Java program ended; Next and Send fail with it.
var errJavaExited = errors.New("java interop program exited")

// JavaProc is the Java interop program of integration/java (real Java
// Sentinel) running in one mode: read, publish, token-server, token-client or
// command-app. It speaks a line protocol: commands on stdin, one
// `READY <json>` line once usable, then one JSON object per line on stdout.
// Everything else it prints is kept for Logs.
type JavaProc struct {
	// Mode is the mode it runs in.
	Mode string
	// Ready is the JSON object of the READY line (ports, names, state).
	Ready map[string]any
	// StartTime is the time from process start to READY.
	StartTime time.Duration
	// LogDir holds Sentinel's own logs (sentinel-record.log and friends).
	LogDir string

	cmd     *exec.Cmd
	stdinMu sync.Mutex
	stdin   io.WriteCloser
	logs    *syncbuf.Buffer
	q       lineQueue
	done    chan struct{}
	waitErr error
}

// Java starts the interop program in mode with args (flags such as
// "--port=18730"; an arg "-J<opt>" passes <opt> to the JVM instead, as in
// "-J-Dfile.encoding=US-ASCII"), waits for READY and stops it when t ends. It skips t when
// Java, Maven or the built jar is missing (fails it with
// RULESYNC_REQUIRE_SERVERS=1); a mode that fails to start fails t with the
// program's own message and logs.
func Java(t testing.TB, mode string, args ...string) *JavaProc {
	t.Helper()
	p, err := startJava(t, mode, args...)
	if err != nil {
		if isUnavailable(err) {
			unavailable(t, "java interop program", err)
		}
		t.Fatal(err)
	}
	return p
}

func startJava(t testing.TB, mode string, args ...string) (*JavaProc, error) {
	java, err := javaBinary()
	if err != nil {
		return nil, err
	}
	jar, err := javaJar()
	if err != nil {
		return nil, err
	}
	p := &JavaProc{
		Mode:   mode,
		LogDir: t.TempDir(),
		logs:   &syncbuf.Buffer{Limit: 1 << 20},
		done:   make(chan struct{}),
	}
	p.q.signal = make(chan struct{}, 1)
	jvm := append([]string(nil), javaDefaultOpts...)
	// The class-data archive scripts/setup-java.sh records beside the jar.
	if jsa := strings.TrimSuffix(jar, ".jar") + ".jsa"; fileExists(jsa) {
		jvm = append(jvm, "-XX:SharedArchiveFile="+jsa)
	}
	jvm = append(jvm, strings.Fields(os.Getenv(EnvJavaOpts))...)
	var flags []string
	for _, a := range args {
		if opt, ok := strings.CutPrefix(a, "-J"); ok {
			jvm = append(jvm, opt)
		} else {
			flags = append(flags, a)
		}
	}
	argv := append(jvm, "-jar", jar, mode, "--log-dir="+p.LogDir)
	argv = append(argv, flags...)
	p.cmd = exec.Command(java, argv...)
	p.cmd.Dir = p.LogDir
	p.cmd.Stderr = p.logs
	p.cmd.SysProcAttr = sysProcAttr()
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	fmt.Fprintf(p.logs, "--- harness: %s %s\n", java, strings.Join(argv, " "))
	begin := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("harness: start java: %w", err)
	}
	ready := make(chan json.RawMessage, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		p.read(stdout, ready)
	}()
	go func() {
		<-readerDone // Wait closes stdout: read it to the end first
		p.waitErr = p.cmd.Wait()
		p.q.close()
		close(p.done)
	}()
	t.Cleanup(func() { _ = p.Stop() })

	timer := time.NewTimer(javaReadyTimeout)
	defer timer.Stop()
	select {
	case raw := <-ready:
		p.StartTime = time.Since(begin)
		if err := json.Unmarshal(raw, &p.Ready); err != nil {
			return nil, fmt.Errorf("harness: java %s: READY line %q: %w", mode, raw, err)
		}
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("harness: java %s exited before READY (%v): %s\n%s", mode, p.waitErr, p.fatalMessage(), p.Logs())
	case <-timer.C:
		_ = p.Kill()
		return nil, fmt.Errorf("harness: java %s not READY within %v\n%s", mode, javaReadyTimeout, p.Logs())
	}
}

// read splits stdout into the READY line, JSON lines (queued for Next) and
// anything else (kept with the logs).
func (p *JavaProc) read(r io.Reader, ready chan<- json.RawMessage) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	sawReady := false
	for sc.Scan() {
		line := sc.Bytes()
		fmt.Fprintf(p.logs, "stdout: %s\n", line)
		switch {
		case !sawReady && bytes.HasPrefix(line, []byte("READY ")):
			sawReady = true
			ready <- append(json.RawMessage(nil), line[len("READY "):]...)
		case len(line) > 0 && line[0] == '{' && json.Valid(line):
			p.q.push(append(json.RawMessage(nil), line...))
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(p.logs, "--- harness: reading stdout: %v\n", err)
	}
}

// fatalMessage returns the message of a {"event":"fatal"} line, if one came.
func (p *JavaProc) fatalMessage() string {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	for _, raw := range p.q.items {
		var m struct{ Event, Message string }
		if json.Unmarshal(raw, &m) == nil && m.Event == "fatal" {
			return m.Message
		}
	}
	return "no fatal message"
}

// Send writes one command line to the program's stdin.
func (p *JavaProc) Send(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("harness: java command %q: one line only", line)
	}
	select {
	case <-p.done:
		return fmt.Errorf("%w (%v)", errJavaExited, p.waitErr)
	default:
	}
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin == nil {
		return errors.New("harness: java stdin already closed")
	}
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		return fmt.Errorf("harness: java send %q: %w", line, err)
	}
	return nil
}

// Next returns the next JSON line the program printed, waiting for it until
// ctx ends or the program exits.
func (p *JavaProc) Next(ctx context.Context) (json.RawMessage, error) {
	for {
		raw, closed := p.q.pop()
		if raw != nil {
			return raw, nil
		}
		if closed {
			return nil, fmt.Errorf("%w (%v)", errJavaExited, p.waitErr)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("harness: java %s: waiting for a line: %w", p.Mode, ctx.Err())
		case <-p.q.signal:
		}
	}
}

// NextMatch returns the next JSON line for which match is true, dropping the
// lines before it (events the test does not care about).
func (p *JavaProc) NextMatch(ctx context.Context, match func(map[string]any) bool) (map[string]any, error) {
	for {
		raw, err := p.Next(ctx)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("harness: java line %s: %w", raw, err)
		}
		if match(m) {
			return m, nil
		}
	}
}

// Call sends a command and decodes the next JSON line into v (a pointer, or
// nil to drop it). A {"event":"error"} answer becomes an error.
func (p *JavaProc) Call(ctx context.Context, line string, v any) error {
	if err := p.Send(line); err != nil {
		return err
	}
	raw, err := p.Next(ctx)
	if err != nil {
		return err
	}
	var e struct{ Event, Message string }
	if json.Unmarshal(raw, &e) == nil && e.Event == "error" {
		return fmt.Errorf("harness: java %s: %q: %s", p.Mode, line, e.Message)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("harness: java answer %s: %w", raw, err)
	}
	return nil
}

// Stop closes stdin (the program exits cleanly on EOF), then sends SIGTERM and
// at last SIGKILL to a program that does not end. It returns the exit error
// of a program that did not exit cleanly.
func (p *JavaProc) Stop() error {
	p.stdinMu.Lock()
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
	p.stdinMu.Unlock()
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{0, 10 * time.Second}, {syscall.SIGTERM, 5 * time.Second}, {syscall.SIGKILL, time.Minute}} {
		if step.sig != 0 {
			_ = p.cmd.Process.Signal(step.sig)
		}
		select {
		case <-p.done:
			return p.waitErr
		case <-time.After(step.wait):
		}
	}
	return errors.New("harness: java did not exit after SIGKILL")
}

// Terminate sends SIGTERM, as a service manager does, and waits for the exit.
func (p *JavaProc) Terminate() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(30 * time.Second):
		return errors.New("harness: java did not exit within 30s of SIGTERM")
	}
}

// Kill ends the program with SIGKILL.
func (p *JavaProc) Kill() error {
	_ = p.cmd.Process.Kill()
	<-p.done
	return nil
}

// Exited is closed when the program has exited.
func (p *JavaProc) Exited() <-chan struct{} { return p.done }

// ExitCode is the exit code once Exited is closed (-1 for a signal).
func (p *JavaProc) ExitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Logs returns what the program printed (stderr and stdout) and the tail of
// Sentinel's record log, for failure messages.
func (p *JavaProc) Logs() string {
	var b strings.Builder
	b.WriteString(tail(p.logs.String(), 16<<10))
	files, _ := filepath.Glob(filepath.Join(p.LogDir, "sentinel-record.log*"))
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "\n--- %s (tail)\n%s", filepath.Base(f), tail(string(data), 8<<10))
	}
	return b.String()
}

// lineQueue is an unbounded FIFO of JSON lines with a wake-up signal.
type lineQueue struct {
	mu     sync.Mutex
	items  []json.RawMessage
	closed bool
	signal chan struct{}
}

func (q *lineQueue) push(raw json.RawMessage) {
	q.mu.Lock()
	q.items = append(q.items, raw)
	q.mu.Unlock()
	q.wake()
}

func (q *lineQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.wake()
}

func (q *lineQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// pop returns the first line, or nil and whether no line will ever come.
func (q *lineQueue) pop() (json.RawMessage, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) > 0 {
		raw := q.items[0]
		q.items = q.items[1:]
		return raw, false
	}
	return nil, q.closed
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// javaBinary finds java: $JAVA_HOME/bin/java, else on PATH.
func javaBinary() (string, error) {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		p := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("%w: java not on PATH (run scripts/setup-java.sh): %v", errUnavailable, err)
	}
	return p, nil
}

var jarOnce struct {
	sync.Once
	path string
	err  error
}

// javaJar returns the interop jar: RULESYNC_JAVA_JAR, or the one
// scripts/setup-java.sh keeps in the cache for the current sources, which it
// builds on the first call when Maven is there (seconds with a primed ~/.m2).
// The answer is kept for the life of the test binary.
func javaJar() (string, error) {
	jarOnce.Do(func() {
		if p := os.Getenv(EnvJavaJar); p != "" {
			if _, err := os.Stat(p); err != nil {
				jarOnce.err = fmt.Errorf("%w: %s=%s: %v", errUnavailable, EnvJavaJar, p, err)
				return
			}
			jarOnce.path = p
			return
		}
		script, err := repoFile("scripts/setup-java.sh")
		if err != nil {
			jarOnce.err = fmt.Errorf("%w: %v", errUnavailable, err)
			return
		}
		var stderr bytes.Buffer
		cmd := exec.Command("bash", script, "--print-jar", "--no-install")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			jarOnce.err = fmt.Errorf("%w: interop jar: %s: %v\n%s", errUnavailable, script, err, tail(stderr.String(), 4000))
			return
		}
		jarOnce.path = strings.TrimSpace(string(out))
	})
	return jarOnce.path, jarOnce.err
}

// repoFile locates a file of this repository from the harness's own source
// path (tests run from a source tree), else from the working directory up.
func repoFile(rel string) (string, error) {
	var starts []string
	if _, self, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(self))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			p := filepath.Join(d, rel)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("harness: %s not found above %v", rel, starts)
}
