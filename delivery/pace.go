package delivery

import "time"

// minPace is the least spacing worth pacing a failing webhook's attempts
// for.
const minPace = time.Millisecond

// pace returns how far apart h starts attempts now, 0 for no pacing. A
// webhook whose latest attempt failed starts one attempt every latency /
// concurrency, the latency being its latest failed attempt's: the rate its
// slots allow anyway, as each attempt holds a slot that long, but spread.
// Without it the attempts of an endpoint that hangs start together (a claim
// brings several at once) and so end together at the timeout, and the
// reconnections and failed results of each wave take the process, and the
// healthy webhooks' latency with it, for a moment (issue #3 measured a p99
// 1.3-1.4 times a run without the hanging endpoint). Paced, its attempts
// start and end evenly and the wave goes. The spacing is capped so that the
// jobs of one claim all start within half the lease's margin, before
// startable would give them back.
func (h *hook) pace() time.Duration {
	if !h.lastFailed.Load() {
		return 0
	}
	c := time.Duration(max(h.Concurrency, 1))
	p := min(time.Duration(h.failLatency.Load())/c, (h.lease-h.Timeout)/(2*c))
	if p < minPace {
		return 0
	}
	return p
}

// waits reports whether h, paced by p, must wait before starting another
// attempt at now. Call it under h.qmu.
func (h *hook) waits(p time.Duration, now time.Time) bool {
	return p > 0 && now.Before(h.nextStart)
}

// started counts an attempt h starts at now, paced by p. Call it under
// h.qmu.
func (h *hook) started(p time.Duration, now time.Time) {
	if p <= 0 {
		return
	}
	// Keep to the schedule, not to the moment the claim loop came back
	// (it comes back a little late), but start no burst after a pause.
	if now.Sub(h.nextStart) > p {
		h.nextStart = now
	}
	h.nextStart = h.nextStart.Add(p)
}

// paceWait returns how long until h, whose jobs are queued, may start the
// next: 0 when it is not paced.
func (h *hook) paceWait(now time.Time) time.Duration {
	p := h.pace()
	h.qmu.Lock()
	defer h.qmu.Unlock()
	if len(h.queue) == 0 || !h.waits(p, now) {
		return 0
	}
	return h.nextStart.Sub(now)
}
