package system

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sampler reads the system measures the load and CPU checks compare against.
// The manager calls it from its sampling goroutine only, never on the hot path.
// A negative (or NaN) result means "unknown"; the corresponding check is then
// skipped rather than guessing.
type Sampler interface {
	// Load1 is the one-minute load average.
	Load1() float64
	// CPUUsage is the CPU usage in [0, 1] since the previous call.
	CPUUsage() float64
}

// A Sampler may also have an Err() error method, returning why its last
// reading failed (nil once readings succeed again); the manager then logs a
// warning when a failure begins, while a load or CPU rule is in force.

// ErrNoData is wrapped by ProcSampler errors when a file it needs is missing or
// does not hold what it should.
var ErrNoData = errors.New("system: cannot read system statistics")

// ProcSampler is the default Sampler on Linux: the load average comes from
// /proc/loadavg, and the CPU usage from /proc/stat, unless the process runs in
// a cgroup whose CPU quota (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us) limits
// it, in which case the usage is the cgroup's CPU time relative to the quota,
// so that a container using its whole quota reads 1 however idle the host is.
type ProcSampler struct {
	root   string           // prefix of /proc and /sys, for tests
	now    func() time.Time // wall clock, for the cgroup usage rate
	numCPU int              // CPUs this process may run on

	mu      sync.Mutex
	prevCPU cpuTimes
	prevCg  cgroupSample
	lastErr error
}

// NewProcSampler returns a ProcSampler reading the real /proc and /sys. It
// takes a first CPU reading so that the first CPUUsage call has a baseline.
func NewProcSampler() *ProcSampler { return newProcSampler("/", time.Now) }

func newProcSampler(root string, now func() time.Time) *ProcSampler {
	s := &ProcSampler{root: root, now: now, numCPU: runtime.NumCPU()}
	s.CPUUsage()
	return s
}

// Err returns the error of the last reading that failed, or nil when the last
// readings succeeded.
func (s *ProcSampler) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *ProcSampler) path(p string) string { return filepath.Join(s.root, p) }

func (s *ProcSampler) fail(err error) float64 {
	s.lastErr = err
	return -1
}

// Load1 returns the first field of /proc/loadavg, or -1.
func (s *ProcSampler) Load1() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.path("proc/loadavg"))
	if err != nil {
		return s.fail(fmt.Errorf("%w: %v", ErrNoData, err))
	}
	v, err := parseLoadavg(data)
	if err != nil {
		return s.fail(err)
	}
	s.lastErr = nil
	return v
}

// parseLoadavg reads the one-minute figure of /proc/loadavg.
func parseLoadavg(data []byte) (float64, error) {
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, fmt.Errorf("%w: /proc/loadavg is empty", ErrNoData)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%w: /proc/loadavg starts with %q, want a load average", ErrNoData, f[0])
	}
	return v, nil
}

// CPUUsage returns the CPU usage since the previous call, or -1 when it is not
// known yet (first call) or cannot be read.
func (s *ProcSampler) CPUUsage() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if quota, ok := s.cgroupQuota(); ok {
		cur, err := s.cgroupUsage()
		if err == nil {
			prev := s.prevCg
			s.prevCg = cur
			s.lastErr = nil
			return cgroupRate(prev, cur, quota)
		}
		s.lastErr = err // fall back to the host's figure
	}
	s.prevCg = cgroupSample{}
	cur, err := readCPUTimes(s.path("proc/stat"))
	if err != nil {
		return s.fail(err)
	}
	prev := s.prevCPU
	s.prevCPU = cur
	s.lastErr = nil
	return hostRate(prev, cur)
}

// cpuTimes is the aggregate "cpu" line of /proc/stat, in clock ticks.
type cpuTimes struct{ idle, total uint64 }

func readCPUTimes(path string) (cpuTimes, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("%w: %v", ErrNoData, err)
	}
	return parseCPUTimes(data)
}

// parseCPUTimes reads the aggregate "cpu" line of /proc/stat.
func parseCPUTimes(data []byte) (cpuTimes, error) {
	for line := range bytes.Lines(data) {
		if !bytes.HasPrefix(line, []byte("cpu ")) {
			continue
		}
		fields := strings.Fields(string(line[4:]))
		if len(fields) < 4 {
			return cpuTimes{}, fmt.Errorf("%w: /proc/stat: the cpu line has %d fields, want at least 4", ErrNoData, len(fields))
		}
		var t cpuTimes
		// user nice system idle iowait irq softirq steal; guest and
		// guest_nice are already included in user and nice.
		for i, fv := range fields[:min(len(fields), 8)] {
			v, err := strconv.ParseUint(fv, 10, 64)
			if err != nil || t.total+v < t.total {
				return cpuTimes{}, fmt.Errorf("%w: /proc/stat: field %d of the cpu line is %q", ErrNoData, i+1, fv)
			}
			t.total += v
			if i == 3 || i == 4 { // idle, iowait
				t.idle += v
			}
		}
		return t, nil
	}
	return cpuTimes{}, fmt.Errorf("%w: /proc/stat has no aggregate cpu line", ErrNoData)
}

func hostRate(prev, cur cpuTimes) float64 {
	if prev.total == 0 || cur.total <= prev.total || cur.idle < prev.idle {
		return -1
	}
	dt := float64(cur.total - prev.total)
	busy := dt - float64(cur.idle-prev.idle)
	return clamp01(busy / dt)
}

// cgroupSample is the cgroup's cumulative CPU time at a wall-clock instant.
type cgroupSample struct {
	usage time.Duration
	at    time.Time
}

func cgroupRate(prev, cur cgroupSample, quotaCPUs float64) float64 {
	if prev.at.IsZero() || !cur.at.After(prev.at) || cur.usage < prev.usage {
		return -1
	}
	return clamp01(float64(cur.usage-prev.usage) / (float64(cur.at.Sub(prev.at)) * quotaCPUs))
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

// cgroupPath returns the cgroup path of this process for the v2 hierarchy
// ("0::/path") and for the v1 controller named ctrl.
func (s *ProcSampler) cgroupPath(v1ctrl string) (v2 string, v1 string) {
	data, err := os.ReadFile(s.path("proc/self/cgroup"))
	if err != nil {
		return "/", "/"
	}
	v2, v1 = "/", "/"
	for line := range strings.Lines(string(data)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			if c == v1ctrl {
				v1 = parts[2]
			}
		}
	}
	return v2, v1
}

// dirs lists the directories to look in for a cgroup file: the process's own
// cgroup under the mount point, then its ancestors up to the mount point
// itself (which is the process's cgroup inside a cgroup namespace).
func (s *ProcSampler) dirs(mount, cgPath string) []string {
	base := s.path(mount)
	var out []string
	p := filepath.Clean("/" + cgPath)
	for {
		out = append(out, filepath.Join(base, p))
		if p == "/" {
			return out
		}
		p = filepath.Dir(p)
	}
}

// cgroupQuota returns the tightest CPU quota, in CPUs, over this process's
// cgroup and its ancestors, and false when no quota applies.
func (s *ProcSampler) cgroupQuota() (float64, bool) {
	v2, v1 := s.cgroupPath("cpu")
	best := math.Inf(1)
	for _, d := range s.dirs("sys/fs/cgroup", v2) {
		data, err := os.ReadFile(filepath.Join(d, "cpu.max"))
		if err != nil {
			continue
		}
		if cpus, ok := parseCPUMax(data); ok {
			best = math.Min(best, cpus)
		}
	}
	for _, mount := range []string{"sys/fs/cgroup/cpu", "sys/fs/cgroup/cpu,cpuacct"} {
		for _, d := range s.dirs(mount, v1) {
			q, err1 := readInt(filepath.Join(d, "cpu.cfs_quota_us"))
			p, err2 := readInt(filepath.Join(d, "cpu.cfs_period_us"))
			if err1 == nil && err2 == nil && q > 0 && p > 0 {
				best = math.Min(best, float64(q)/float64(p))
			}
		}
	}
	// A quota of at least every usable CPU limits nothing: the host figure
	// is then the better measure.
	return best, best < float64(s.numCPU)
}

// cgroupUsage reads the cumulative CPU time of this process's cgroup: cgroup v2
// cpu.stat usage_usec, else v1 cpuacct.usage (ns).
func (s *ProcSampler) cgroupUsage() (cgroupSample, error) {
	v2, v1 := s.cgroupPath("cpuacct")
	for _, d := range s.dirs("sys/fs/cgroup", v2) {
		data, err := os.ReadFile(filepath.Join(d, "cpu.stat"))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(data)) {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "usage_usec" {
				us, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil || us < 0 {
					return cgroupSample{}, fmt.Errorf("%w: %s: usage_usec is %q", ErrNoData, d, f[1])
				}
				return cgroupSample{usage: time.Duration(us) * time.Microsecond, at: s.now()}, nil
			}
		}
		break // a cpu.stat without usage_usec is not a cgroup v2 file
	}
	for _, mount := range []string{"sys/fs/cgroup/cpuacct", "sys/fs/cgroup/cpu,cpuacct"} {
		for _, d := range s.dirs(mount, v1) {
			ns, err := readInt(filepath.Join(d, "cpuacct.usage"))
			if err == nil && ns >= 0 {
				return cgroupSample{usage: time.Duration(ns), at: s.now()}, nil
			}
		}
	}
	return cgroupSample{}, fmt.Errorf("%w: no cgroup CPU usage file found", ErrNoData)
}

// parseCPUMax reads a cgroup v2 cpu.max ("$MAX $PERIOD", MAX possibly "max")
// as a number of CPUs; false means no limit or unreadable.
func parseCPUMax(data []byte) (float64, bool) {
	f := strings.Fields(string(data))
	if len(f) != 2 || f[0] == "max" {
		return 0, false
	}
	q, err1 := strconv.ParseFloat(f[0], 64)
	p, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || !(q > 0) || !(p > 0) || math.IsInf(q, 0) || math.IsInf(p, 0) {
		return 0, false
	}
	return q / p, true
}

func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
}
