package delivery

import (
	"slices"
	"sync"
	"time"
)

// HealthWindow is the number of recent attempts endpoint health is computed
// over.
const HealthWindow = 100

// Health tracks one endpoint's recent attempts in a ring of the last
// HealthWindow; the zero value is ready to use and it is safe for
// concurrent use.
type Health struct {
	mu          sync.Mutex
	ring        [HealthWindow]healthSample
	next, count int
	lastStatus  int
	consecutive int
}

type healthSample struct {
	ok      bool
	latency time.Duration
}

// HealthSnapshot is an endpoint's health at one moment.
type HealthSnapshot struct {
	// Attempts is how many attempts the figures cover (at most HealthWindow).
	Attempts int `json:"attempts"`
	// SuccessRate is the fraction of those attempts that succeeded, 0 when
	// there were none.
	SuccessRate float64 `json:"success_rate"`
	// AvgMS and P95MS are the mean and 95th percentile (nearest rank) latency
	// of those attempts in milliseconds, failures included.
	AvgMS float64 `json:"avg_ms"`
	P95MS float64 `json:"p95_ms"`
	// LastStatus is the HTTP status of the latest attempt, 0 when it got no
	// response.
	LastStatus int `json:"last_status"`
	// ConsecutiveFailures counts failed attempts since the last success; it
	// is not limited to the window.
	ConsecutiveFailures int `json:"consecutive_failures"`
}

// Record adds one attempt's result.
func (h *Health) Record(ok bool, status int, latency time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring[h.next] = healthSample{ok: ok, latency: max(latency, 0)}
	h.next = (h.next + 1) % HealthWindow
	h.count = min(h.count+1, HealthWindow)
	h.lastStatus = status
	if ok {
		h.consecutive = 0
	} else {
		h.consecutive++
	}
}

// Snapshot computes the figures over the attempts recorded so far.
func (h *Health) Snapshot() HealthSnapshot {
	h.mu.Lock()
	n := h.count
	var lat [HealthWindow]time.Duration
	okCount := 0
	var sum time.Duration
	for i := range n {
		s := h.ring[i]
		lat[i] = s.latency
		sum += s.latency
		if s.ok {
			okCount++
		}
	}
	snap := HealthSnapshot{Attempts: n, LastStatus: h.lastStatus, ConsecutiveFailures: h.consecutive}
	h.mu.Unlock()
	if n == 0 {
		return snap
	}
	ls := lat[:n]
	slices.Sort(ls)
	rank := (95*n + 99) / 100 // ceil(0.95·n), 1-based
	snap.SuccessRate = float64(okCount) / float64(n)
	snap.AvgMS = ms(sum) / float64(n)
	snap.P95MS = ms(ls[rank-1])
	return snap
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
