package delivery

import (
	"context"
	"time"
)

// A claim that returns an error may still have committed its leases: the
// answer can be lost after the store committed them (a connection cut while
// PostgreSQL runs the claim, or an error after the commit). Every claim
// leases under its own owner token, so the engine gives back whatever that
// token holds (store ReleaseOwner) instead of leaving the deliveries leased
// until their leases expire. Until a webhook's failed claims are given back
// it is not claimed for again: the store is failing, and every claim would
// leave one more token to give back.

// lostClaimGrace is how long the engine waits after a claim failed before it
// gives back what the claim may hold: a claim whose connection was cut may
// still be running on the server, and a release that runs before it commits
// would miss its rows.
const lostClaimGrace = time.Second

// lostClaim is the owner token of a claim that returned an error.
type lostClaim struct {
	webhook string
	owner   string
	failed  time.Time // when the claim returned, by the wall clock (see lostClaimGrace)
	until   time.Time // the end of the leases it may hold, by Options.Now
}

// addLost records the token of a claim of h that returned an error; now is
// the claim's time.
func (e *Engine) addLost(h *hook, owner string, now time.Time) {
	e.lostMu.Lock()
	e.lostClaims = append(e.lostClaims, lostClaim{webhook: h.Name, owner: owner, failed: time.Now(), until: now.Add(h.lease)})
	e.lostN.Store(int64(len(e.lostClaims)))
	e.lostMu.Unlock()
}

// takeLost removes and returns the recorded tokens.
func (e *Engine) takeLost() []lostClaim {
	e.lostMu.Lock()
	defer e.lostMu.Unlock()
	lost := e.lostClaims
	e.lostClaims = nil
	e.lostN.Store(0)
	return lost
}

// keepLost records tokens again that could not be given back yet.
func (e *Engine) keepLost(lost []lostClaim) {
	if len(lost) == 0 {
		return
	}
	e.lostMu.Lock()
	e.lostClaims = append(lost, e.lostClaims...)
	e.lostN.Store(int64(len(e.lostClaims)))
	e.lostMu.Unlock()
}

// releaseLost gives back, due again at now, what the failed claims past
// lostClaimGrace may hold, one store call per token, stopping at the first
// error (the store is still failing: the claim loop tries again at its next
// round). Tokens whose leases have ended by now are dropped: their
// deliveries can be claimed again anyway. It returns the webhooks that still
// have tokens to give back, which are not claimed for in this round.
func (e *Engine) releaseLost(ctx context.Context, now time.Time) (blocked map[string]bool) {
	if e.lostN.Load() == 0 {
		return nil
	}
	var keep []lostClaim
	var failed error
	for _, l := range e.takeLost() {
		switch {
		case !now.Before(l.until):
			continue
		case failed != nil || ctx.Err() != nil || time.Since(l.failed) < e.lostGrace:
			keep = append(keep, l)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := e.st.ReleaseOwner(rctx, l.owner, now)
		cancel()
		if err != nil {
			failed = err
			keep = append(keep, l)
			continue
		}
		e.opts.Logger.Info("gave back the deliveries of a failed claim", "webhook", l.webhook, "owner", l.owner)
		e.markDue(l.webhook, now)
	}
	if failed != nil && ctx.Err() == nil {
		e.opts.Logger.Warn("give back the deliveries of failed claims", "claims", len(keep), "err", failed)
	}
	e.keepLost(keep)
	if len(keep) == 0 {
		return nil
	}
	blocked = make(map[string]bool, len(keep))
	for _, l := range keep {
		blocked[l.webhook] = true
	}
	return blocked
}

// handOverLost hands the tokens of failed claims whose leases have not ended
// to the finish loops, which give them back while Stop lets them write; a
// token not given back by then leaves its deliveries leased until the lease
// ends, as without it. Call it once no claim runs any more.
func (e *Engine) handOverLost() {
	now := e.opts.Now()
	for _, l := range e.takeLost() {
		if now.Before(l.until) {
			e.results <- outcome{owner: l.owner}
		}
	}
}

// releaseOwners gives back what each token of a failed claim may hold,
// retrying while the store is down (see write).
func (e *Engine) releaseOwners(owners []string) {
	for _, owner := range owners {
		e.write("give back the deliveries of failed claim "+owner, 0, func(ctx context.Context) error {
			return e.st.ReleaseOwner(ctx, owner, e.opts.Now())
		})
	}
}
