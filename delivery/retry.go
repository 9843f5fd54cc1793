package delivery

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// RetryPolicy decides when the next attempt of a failed delivery is due.
type RetryPolicy interface {
	// NextRetry returns the time of the next attempt after attempt number
	// attempt (1 for the first attempt) failed at now.
	NextRetry(attempt int, now time.Time) time.Time
}

// Schedule is the shape of a retry schedule: fixed or exponential.
type Schedule string

// Schedules a webhook's retry block may name.
const (
	// Fixed waits Interval between every two attempts.
	Fixed Schedule = "fixed"
	// Exponential waits Interval after the first attempt and doubles the wait
	// after every further one, up to MaxInterval.
	Exponential Schedule = "exponential"
)

// Defaults of Backoff's zero fields.
const (
	// DefaultRetryInterval is the wait after the first failed attempt.
	DefaultRetryInterval = 30 * time.Second
	// DefaultMaxInterval caps every wait of an exponential schedule.
	DefaultMaxInterval = 10 * time.Minute
	// DefaultAttempts is the total number of attempts of a delivery.
	DefaultAttempts = 3
)

// ParseSchedule parses a schedule name; "" means Exponential.
func ParseSchedule(s string) (Schedule, error) {
	switch Schedule(s) {
	case "", Exponential:
		return Exponential, nil
	case Fixed:
		return Fixed, nil
	}
	return "", fmt.Errorf("schedule %q: want fixed or exponential", s)
}

// Backoff is the RetryPolicy of a webhook's retry block: a fixed or
// exponential schedule with a cap and a random spread (jitter).
//
// The wait after attempt n (1-based) is Interval for Fixed and
// Interval·2^(n-1) for Exponential, then spread uniformly by ±Jitter (a
// fraction: 0.1 is ±10 %), then capped at MaxInterval: the cap is a hard
// upper bound, so at the cap the jitter only shortens the wait. A zero
// Interval means DefaultRetryInterval; a zero MaxInterval means
// DefaultMaxInterval for Exponential and no cap for Fixed.
type Backoff struct {
	Schedule    Schedule
	Interval    time.Duration
	MaxInterval time.Duration
	// Jitter is the random spread as a fraction of the wait, in [0, 1].
	Jitter float64
	// Rand returns a number in [0, 1); nil means math/rand/v2's Float64.
	// Tests inject it.
	Rand func() float64
}

// Validate reports the first invalid field of b, naming it and its value.
func (b Backoff) Validate() error {
	if _, err := ParseSchedule(string(b.Schedule)); err != nil {
		return err
	}
	if b.Interval < 0 {
		return fmt.Errorf("interval %s: must not be negative", b.Interval)
	}
	if b.MaxInterval < 0 {
		return fmt.Errorf("max_interval %s: must not be negative", b.MaxInterval)
	}
	if b.MaxInterval > 0 && b.MaxInterval < b.interval() {
		return fmt.Errorf("max_interval %s: must not be shorter than interval (%s)", b.MaxInterval, b.interval())
	}
	if b.Jitter < 0 || b.Jitter > 1 || math.IsNaN(b.Jitter) {
		return fmt.Errorf("jitter %v: must be between 0 and 1", b.Jitter)
	}
	return nil
}

func (b Backoff) interval() time.Duration {
	if b.Interval <= 0 {
		return DefaultRetryInterval
	}
	return b.Interval
}

func (b Backoff) maxInterval() time.Duration {
	switch {
	case b.MaxInterval > 0:
		return b.MaxInterval
	case b.Schedule == Fixed:
		return math.MaxInt64
	default:
		return DefaultMaxInterval
	}
}

// Delay returns the wait after attempt number attempt (1-based; smaller
// values count as 1) failed.
func (b Backoff) Delay(attempt int) time.Duration {
	attempt = max(attempt, 1)
	base := b.interval()
	limit := b.maxInterval()
	d := base
	if b.Schedule != Fixed {
		// Doubling overflows quickly; stop at the cap.
		for i := 1; i < attempt && d < limit; i++ {
			if d > math.MaxInt64/2 {
				d = math.MaxInt64
				break
			}
			d *= 2
		}
	}
	d = min(d, limit)
	if j := min(max(b.Jitter, 0), 1); j > 0 {
		r := b.rand()
		f := 1 + j*(2*r-1) // in [1-j, 1+j)
		spread := float64(d) * f
		if spread >= float64(math.MaxInt64) {
			d = math.MaxInt64
		} else {
			d = time.Duration(spread)
		}
	}
	return max(min(d, limit), 0)
}

func (b Backoff) rand() float64 {
	if b.Rand != nil {
		r := b.Rand()
		if r < 0 || r >= 1 || math.IsNaN(r) {
			return 0.5
		}
		return r
	}
	return rand.Float64()
}

// NextRetry returns now plus Delay(attempt).
func (b Backoff) NextRetry(attempt int, now time.Time) time.Time {
	return now.Add(b.Delay(attempt))
}

// NextAttemptAt returns when a retryable outcome's next attempt is due: the
// later of the policy's time and the receiver's Retry-After.
func NextAttemptAt(p RetryPolicy, attempt int, now time.Time, o Outcome) time.Time {
	t := p.NextRetry(attempt, now)
	if o.RetryAfter.After(t) {
		return o.RetryAfter
	}
	return t
}
