package system

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestProcSamplerOnThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	s := NewProcSampler()
	load := s.Load1()
	if load < 0 || load > float64(64*runtime.NumCPU()) {
		t.Fatalf("load average %v is not sane (err %v)", load, s.Err())
	}
	// The CPU figure is a rate: spin until the kernel's counters have moved
	// (they tick every few milliseconds) and a figure comes out.
	usage := -1.0
	for range 200 {
		deadline := time.Now().Add(5 * time.Millisecond)
		for time.Now().Before(deadline) {
		}
		if usage = s.CPUUsage(); usage >= 0 {
			break
		}
	}
	if usage < 0 || usage > 1 {
		t.Fatalf("cpu usage %v is not in [0, 1] (err %v)", usage, s.Err())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("sampler error after good readings: %v", err)
	}
}

// fakeFS builds a root holding the given files.
func fakeFS(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		write(t, root, p, content)
	}
	return root
}

func write(t *testing.T, root, p, content string) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stepClock advances one second at every reading.
func stepClock() func() time.Time {
	now := time.Unix(1_700_000_000, 0)
	return func() time.Time { now = now.Add(time.Second); return now }
}

func TestProcSamplerCPU(t *testing.T) {
	const stat1 = "cpu  600 0 200 1000 0 0 0 0 0 0\ncpu0 1 1 1 1\nintr 5\n"
	// +1000 ticks, of which idle+iowait +250: usage 0.75.
	const stat2 = "cpu  1100 0 450 1200 50 0 0 0 300 0\ncpu0 1 1 1 1\n"
	tests := []struct {
		name   string
		files  map[string]string // before the first reading
		update map[string]string // before the second reading
		numCPU int
		want   float64
	}{
		{name: "host, no cgroup",
			files: map[string]string{"proc/stat": stat1}, update: map[string]string{"proc/stat": stat2}, want: 0.75},
		{name: "cgroup v2 without limit uses the host",
			files:  map[string]string{"proc/stat": stat1, "proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "max 100000\n", "sys/fs/cgroup/cpu.stat": "usage_usec 0\n"},
			update: map[string]string{"proc/stat": stat2, "sys/fs/cgroup/cpu.stat": "usage_usec 900000\n"}, want: 0.75},
		{name: "cgroup v2 half a CPU",
			files:  map[string]string{"proc/stat": stat1, "proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "50000 100000\n", "sys/fs/cgroup/cpu.stat": "usage_usec 1000000\nuser_usec 5\n"},
			update: map[string]string{"proc/stat": stat2, "sys/fs/cgroup/cpu.stat": "usage_usec 1250000\nuser_usec 9\n"}, want: 0.5}, // 0.25 s of 0.5 CPU-s
		{name: "cgroup v2 quota on a parent",
			files: map[string]string{"proc/stat": stat1, "proc/self/cgroup": "0::/kubepods/pod1/ctr\n",
				"sys/fs/cgroup/kubepods/pod1/cpu.max": "100000 100000\n", "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "max 100000\n",
				"sys/fs/cgroup/kubepods/pod1/ctr/cpu.stat": "usage_usec 0\n"},
			update: map[string]string{"proc/stat": stat2, "sys/fs/cgroup/kubepods/pod1/ctr/cpu.stat": "usage_usec 400000\n"}, numCPU: 4, want: 0.4},
		{name: "cgroup v2 busy beyond quota is clamped",
			files:  map[string]string{"proc/stat": stat1, "proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "50000 100000\n", "sys/fs/cgroup/cpu.stat": "usage_usec 0\n"},
			update: map[string]string{"proc/stat": stat2, "sys/fs/cgroup/cpu.stat": "usage_usec 800000\n"}, want: 1},
		{name: "cgroup v2 quota of every CPU uses the host",
			files:  map[string]string{"proc/stat": stat1, "proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "200000 100000\n", "sys/fs/cgroup/cpu.stat": "usage_usec 0\n"},
			update: map[string]string{"proc/stat": stat2, "sys/fs/cgroup/cpu.stat": "usage_usec 100000\n"}, numCPU: 2, want: 0.75},
		{name: "cgroup v1 quota",
			files: map[string]string{"proc/stat": stat1, "proc/self/cgroup": "4:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n",
				"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "150000\n", "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
				"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage": "0\n"},
			update: map[string]string{"proc/stat": stat2, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpuacct.usage": "300000000\n"}, numCPU: 4, want: 0.2}, // 0.3 of 1.5
		{name: "cgroup v1 unlimited quota uses the host",
			files: map[string]string{"proc/stat": stat1, "proc/self/cgroup": "2:cpuacct:/\n1:cpu:/\n",
				"sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n", "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n", "sys/fs/cgroup/cpuacct/cpuacct.usage": "0\n"},
			update: map[string]string{"proc/stat": stat2, "sys/fs/cgroup/cpuacct/cpuacct.usage": "5\n"}, want: 0.75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeFS(t, tt.files)
			s := newProcSampler(root, stepClock())
			if tt.numCPU > 0 {
				s.numCPU = tt.numCPU
			} else {
				s.numCPU = 2
			}
			s.prevCg, s.prevCPU = cgroupSample{}, cpuTimes{}
			if first := s.CPUUsage(); first != -1 {
				t.Fatalf("first reading %v, want -1 (no baseline)", first)
			}
			for p, c := range tt.update {
				write(t, root, p, c)
			}
			if got := s.CPUUsage(); math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("usage %v, want %v (err %v)", got, tt.want, s.Err())
			}
		})
	}
}

func TestProcSamplerBadFiles(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"missing", nil},
		{"empty", map[string]string{"proc/loadavg": "", "proc/stat": ""}},
		{"garbage", map[string]string{"proc/loadavg": "high 1 2\n", "proc/stat": "cpu  a b c d\n"}},
		{"short cpu line", map[string]string{"proc/loadavg": "-3 1 1\n", "proc/stat": "cpu  1 2\n"}},
		{"nan", map[string]string{"proc/loadavg": "NaN 1 1\n", "proc/stat": "intr 1\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newProcSampler(fakeFS(t, tt.files), stepClock())
			if v := s.Load1(); v != -1 {
				t.Fatalf("Load1 = %v, want -1", v)
			}
			if err := s.Err(); !errors.Is(err, ErrNoData) {
				t.Fatalf("Load1 error %v, want ErrNoData", err)
			}
			if v := s.CPUUsage(); v != -1 {
				t.Fatalf("CPUUsage = %v, want -1", v)
			}
			if err := s.Err(); !errors.Is(err, ErrNoData) {
				t.Fatalf("CPUUsage error %v, want ErrNoData", err)
			}
		})
	}
}

func TestProcSamplerLoad(t *testing.T) {
	s := newProcSampler(fakeFS(t, map[string]string{"proc/loadavg": "3.25 2.00 1.50 2/300 4242\n"}), stepClock())
	if v := s.Load1(); v != 3.25 || s.Err() != nil {
		t.Fatalf("Load1 = %v (err %v), want 3.25", v, s.Err())
	}
}

func FuzzProcParsers(f *testing.F) {
	f.Add([]byte("cpu  600 0 200 1000 0 0 0 0 0 0\ncpu0 1 1 1 1\n"))
	f.Add([]byte("0.42 0.32 0.15 1/92 7051\n"))
	f.Add([]byte("50000 100000\n"))
	f.Add([]byte("max 100000"))
	f.Add([]byte("cpu 18446744073709551615 18446744073709551615 1 1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if ct, err := parseCPUTimes(data); err == nil && ct.idle > ct.total {
			t.Fatalf("idle %d > total %d", ct.idle, ct.total)
		} else if err != nil && !errors.Is(err, ErrNoData) {
			t.Fatalf("error %v does not wrap ErrNoData", err)
		}
		if v, err := parseLoadavg(data); err == nil && (v < 0 || math.IsNaN(v) || math.IsInf(v, 0)) {
			t.Fatalf("load %v accepted", v)
		}
		if v, ok := parseCPUMax(data); ok && !(v > 0) {
			t.Fatalf("cpu.max %v accepted", v)
		}
	})
}
