package delivery

import (
	"math"
	"strings"
	"testing"
	"time"
)

func constRand(r float64) func() float64 { return func() float64 { return r } }

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	exp := Backoff{Schedule: Exponential, Interval: 30 * time.Second, MaxInterval: 10 * time.Minute}
	tests := []struct {
		name    string
		b       Backoff
		attempt int
		want    time.Duration
	}{
		{"exp first", exp, 1, 30 * time.Second},
		{"exp second doubles", exp, 2, time.Minute},
		{"exp third", exp, 3, 2 * time.Minute},
		{"exp fifth", exp, 5, 8 * time.Minute},
		{"exp capped", exp, 6, 10 * time.Minute},
		{"exp huge attempt capped", exp, math.MaxInt, 10 * time.Minute},
		{"attempt zero counts as one", exp, 0, 30 * time.Second},
		{"negative attempt counts as one", exp, -4, 30 * time.Second},
		{"fixed", Backoff{Schedule: Fixed, Interval: 5 * time.Second}, 7, 5 * time.Second},
		{"fixed no cap by default", Backoff{Schedule: Fixed, Interval: time.Hour}, 3, time.Hour},
		{"zero schedule is exponential", Backoff{Interval: time.Second}, 4, 8 * time.Second},
		{"zero interval is default", Backoff{Schedule: Fixed}, 2, DefaultRetryInterval},
		{"zero max is default for exponential", Backoff{Interval: time.Minute}, 30, DefaultMaxInterval},
		{"huge interval no overflow", Backoff{Interval: math.MaxInt64 / 3, MaxInterval: math.MaxInt64}, 10, math.MaxInt64},
		{"jitter low end", Backoff{Interval: 10 * time.Second, Jitter: 0.1, Rand: constRand(0)}, 1, 9 * time.Second},
		{"jitter middle", Backoff{Interval: 10 * time.Second, Jitter: 0.1, Rand: constRand(0.5)}, 2, 20 * time.Second},
		{"jitter high end", Backoff{Interval: 10 * time.Second, Jitter: 0.2, Rand: constRand(0.75)}, 1, 11 * time.Second},
		{"jitter never exceeds cap", Backoff{Interval: 10 * time.Second, MaxInterval: 10 * time.Second, Jitter: 0.5, Rand: constRand(0.99)}, 1, 10 * time.Second},
		{"jitter under cap shortens", Backoff{Interval: 10 * time.Second, MaxInterval: 10 * time.Second, Jitter: 0.5, Rand: constRand(0)}, 3, 5 * time.Second},
		{"bad rand treated as middle", Backoff{Interval: 10 * time.Second, Jitter: 0.5, Rand: constRand(7)}, 1, 10 * time.Second},
		{"jitter above one clamped", Backoff{Interval: 10 * time.Second, Jitter: 3, Rand: constRand(0)}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.b.Delay(tt.attempt); got != tt.want {
				t.Fatalf("Delay(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestBackoffNextRetry(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var p RetryPolicy = Backoff{Interval: time.Minute, Jitter: 0.5, Rand: constRand(0.25)}
	// attempt 2: 2m · (1 + 0.5·(2·0.25-1)) = 2m · 0.75 = 90s
	if got, want := p.NextRetry(2, now), now.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("NextRetry = %s, want %s", got, want)
	}
}

func TestBackoffJitterSpread(t *testing.T) {
	t.Parallel()
	b := Backoff{Interval: 100 * time.Second, MaxInterval: time.Hour, Jitter: 0.1}
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := b.Delay(1)
		if d < 90*time.Second || d > 110*time.Second {
			t.Fatalf("Delay with default rand = %s, want within ±10%% of 100s", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct delays in 1000 draws: jitter not random", len(seen))
	}
}

func TestBackoffValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		b       Backoff
		wantErr string
	}{
		{Backoff{}, ""},
		{Backoff{Schedule: Fixed, Interval: time.Second, Jitter: 1}, ""},
		{Backoff{Schedule: "linear"}, `schedule "linear": want fixed or exponential`},
		{Backoff{Interval: -time.Second}, "interval -1s: must not be negative"},
		{Backoff{MaxInterval: -time.Second}, "max_interval -1s: must not be negative"},
		{Backoff{Interval: time.Minute, MaxInterval: time.Second}, "max_interval 1s: must not be shorter than interval (1m0s)"},
		{Backoff{Jitter: 1.5}, "jitter 1.5: must be between 0 and 1"},
		{Backoff{Jitter: math.NaN()}, "jitter NaN: must be between 0 and 1"},
	}
	for _, tt := range tests {
		err := tt.b.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tt.b, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("Validate(%+v) = %v, want %q", tt.b, err, tt.wantErr)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Schedule{"": Exponential, "exponential": Exponential, "fixed": Fixed} {
		got, err := ParseSchedule(in)
		if err != nil || got != want {
			t.Errorf("ParseSchedule(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseSchedule("Fixed"); err == nil || !strings.Contains(err.Error(), `"Fixed"`) {
		t.Errorf("ParseSchedule(Fixed) error = %v, want one naming the value", err)
	}
}

func TestNextAttemptAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p := Backoff{Schedule: Fixed, Interval: time.Minute}
	tests := []struct {
		name string
		o    Outcome
		want time.Time
	}{
		{"no retry-after", Outcome{Retry: true}, now.Add(time.Minute)},
		{"retry-after earlier than schedule", Outcome{Retry: true, RetryAfter: now.Add(time.Second)}, now.Add(time.Minute)},
		{"retry-after later wins", Outcome{Retry: true, RetryAfter: now.Add(time.Hour)}, now.Add(time.Hour)},
	}
	for _, tt := range tests {
		if got := NextAttemptAt(p, 1, now, tt.o); !got.Equal(tt.want) {
			t.Errorf("%s: NextAttemptAt = %s, want %s", tt.name, got, tt.want)
		}
	}
}
