package dashboard

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rulesync/rulesync/engine"
)

// Sentinel's names of the system figures appended to metric answers.
const (
	systemLoadResource = "__system_load__"
	cpuUsageResource   = "__cpu_usage__"
)

// maxMetricLines is Java's bound on a metric answer without endTime.
const maxMetricLines = 12000

// metricLine is one line of a metric answer.
type metricLine struct {
	ts       int64
	resource string
	s        engine.SecondStats
}

// format writes Sentinel's MetricNode.toThinString:
// timestamp|resource|passQps|blockQps|successQps|exceptionQps|rt|occupiedPassQps|concurrency|classification
func (l metricLine) format(b *strings.Builder) {
	rt := l.s.RTMs
	if l.s.Success != 0 {
		rt = l.s.RTMs / l.s.Success
	}
	fmt.Fprintf(b, "%d|%s|%d|%d|%d|%d|%d|%d|%d|%d\n", l.ts, strings.ReplaceAll(l.resource, "|", "_"),
		l.s.Pass, l.s.Block, l.s.Success, l.s.Error, rt, l.s.Occupied, l.s.Concurrency, 0)
}

// metric answers the seconds of statistics in [startTime, endTime] (Unix
// ms), of one resource (identity) or of all, one line per resource and
// second, oldest first; all resources also get the inbound calls and,
// when sampled, the system load and CPU usage, as in Java.
func (a *Agent) metric(r *request) response {
	startStr := strings.TrimSpace(r.params["startTime"])
	if startStr == "" {
		return ok("")
	}
	start, err := strconv.ParseInt(startStr, 10, 64)
	if err != nil {
		return failure(http.StatusBadRequest, "startTime is not a number of milliseconds: "+clip(startStr))
	}
	nowMs := a.e.UnixMilli(a.e.Clock().NowMs())
	end, maxLines := nowMs, maxMetricLines
	if s := strings.TrimSpace(r.params["endTime"]); s != "" {
		if end, err = strconv.ParseInt(s, 10, 64); err != nil {
			return failure(http.StatusBadRequest, "endTime is not a number of milliseconds: "+clip(s))
		}
	} else if s := strings.TrimSpace(r.params["maxLines"]); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return failure(http.StatusBadRequest, "maxLines is not a count: "+clip(s))
		}
		maxLines = min(n, maxMetricLines)
	}
	identity := r.params["identity"]
	var lines []metricLine
	add := func(name string, h []engine.SecondStats) {
		for _, s := range h {
			lines = append(lines, metricLine{ts: s.StartMs, resource: name, s: s})
		}
	}
	if identity != "" {
		if identity == engine.InboundResource {
			add(identity, a.e.InboundHistory(start, end))
		} else if rv, ok := a.e.Resource(identity); ok {
			add(identity, rv.History(start, end))
		}
	} else {
		for rv := range a.e.Resources() {
			add(rv.Name(), rv.History(start, end))
		}
		add(engine.InboundResource, a.e.InboundHistory(start, end))
	}
	slices.SortStableFunc(lines, func(x, y metricLine) int {
		if x.ts != y.ts {
			return cmpInt(x.ts, y.ts)
		}
		return strings.Compare(x.resource, y.resource)
	})
	if len(lines) > maxLines {
		lines = lines[:maxLines]
	}
	if identity == "" {
		ts := nowMs - nowMs%1000
		if load := a.e.System().Load1(); load > 0 {
			lines = append(lines, metricLine{ts: ts, resource: systemLoadResource, s: engine.SecondStats{Pass: int64(load * 10000)}})
		}
		if cpu := a.e.System().CPUUsage(); cpu > 0 {
			lines = append(lines, metricLine{ts: ts, resource: cpuUsageResource, s: engine.SecondStats{Pass: int64(cpu * 10000)}})
		}
	}
	var b strings.Builder
	for _, l := range lines {
		l.format(&b)
	}
	return ok(b.String())
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// nodeVo is Sentinel's NodeVo, the element of clusterNode and jsonTree
// answers; id and parentId are only in jsonTree's.
type nodeVo struct {
	ID                 string  `json:"id,omitempty"`
	ParentID           *string `json:"parentId,omitempty"`
	Resource           string  `json:"resource"`
	ThreadNum          int64   `json:"threadNum"`
	PassQps            int64   `json:"passQps"`
	BlockQps           int64   `json:"blockQps"`
	TotalQps           int64   `json:"totalQps"`
	AverageRt          int64   `json:"averageRt"`
	SuccessQps         int64   `json:"successQps"`
	ExceptionQps       int64   `json:"exceptionQps"`
	OneMinutePass      int64   `json:"oneMinutePass"`
	OneMinuteBlock     int64   `json:"oneMinuteBlock"`
	OneMinuteException int64   `json:"oneMinuteException"`
	OneMinuteTotal     int64   `json:"oneMinuteTotal"`
	Timestamp          int64   `json:"timestamp"`
}

func newNodeVo(st engine.ResourceStats, m engine.Totals, nowMs int64) nodeVo {
	pass, block := int64(st.PassQPS), int64(st.BlockQPS)
	return nodeVo{
		Resource: st.Resource, ThreadNum: st.Concurrency,
		PassQps: pass, BlockQps: block, TotalQps: int64(st.PassQPS + st.BlockQPS),
		AverageRt: int64(st.AvgRTMs), SuccessQps: int64(st.SuccessQPS), ExceptionQps: int64(st.ErrorQPS),
		OneMinutePass: m.Pass, OneMinuteBlock: m.Block, OneMinuteException: m.Error, OneMinuteTotal: m.Pass + m.Block,
		Timestamp: nowMs,
	}
}

// clusterNode answers the statistics of every resource; type=notZero leaves
// out those without a call in the last minute.
func (a *Agent) clusterNode(r *request) response {
	notZero := strings.EqualFold(r.params["type"], "notZero")
	nowMs := a.cfg.now().UnixMilli()
	list := []nodeVo{}
	for rv := range a.e.Resources() {
		m := rv.LastMinute()
		if notZero && m.Pass+m.Block <= 0 {
			continue
		}
		list = append(list, newNodeVo(rv.Stats(), m, nowMs))
	}
	slices.SortFunc(list, func(x, y nodeVo) int { return strings.Compare(x.Resource, y.Resource) })
	return jsonAnswer(list)
}

// jsonTree answers the engine's call tree in pre-order from machine-root,
// each node with an id and its parent's.
func (a *Agent) jsonTree(*request) response {
	nowMs := a.cfg.now().UnixMilli()
	list := []nodeVo{}
	var visit func(n engine.TreeNode, parent *string)
	visit = func(n engine.TreeNode, parent *string) {
		vo := newNodeVo(n.Stats, n.LastMinute, nowMs)
		vo.Resource = n.Name
		vo.ID, vo.ParentID = newID(), parent
		list = append(list, vo)
		id := vo.ID
		for _, c := range n.Children {
			visit(c, &id)
		}
	}
	visit(a.e.CallTree(), nil)
	return jsonAnswer(list)
}

func jsonAnswer(v any) response {
	data, err := json.Marshal(v)
	if err != nil {
		return failure(http.StatusInternalServerError, err.Error())
	}
	return ok(string(data))
}

// newID returns a random UUID, as Java's NodeVo ids are.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
