package teams

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC; "" for the zero time
		err  timeError
	}{
		{"2025-01-02T03:04:05Z", "2025-01-02T03:04:05Z", timeOK},
		{"2025-01-02T03:04:05", "2025-01-02T03:04:05Z", timeOK},
		{"2025-01-02t03:04:05z", "2025-01-02T03:04:05Z", timeOK},
		{"2025-01-02 03:04:05Z", "2025-01-02T03:04:05Z", timeOK},
		{"2025-01-02T03:04:05.1Z", "2025-01-02T03:04:05.1Z", timeOK},
		{"2025-01-02T03:04:05.12Z", "2025-01-02T03:04:05.12Z", timeOK},
		{"2025-01-02T03:04:05.123Z", "2025-01-02T03:04:05.123Z", timeOK},
		{"2025-01-02T03:04:05.1234567", "2025-01-02T03:04:05.1234567Z", timeOK},
		{"2025-01-02T03:04:05.123456789Z", "2025-01-02T03:04:05.123456789Z", timeOK},
		{"2025-01-02T03:04:05.1234567891234Z", "2025-01-02T03:04:05.123456789Z", timeOK},
		{"2025-01-02T03:04:05,5Z", "2025-01-02T03:04:05.5Z", timeOK},
		{"2025-01-02T03:04:05+01:00", "2025-01-02T02:04:05Z", timeOK},
		{"2025-01-02T03:04:05-0130", "2025-01-02T04:34:05Z", timeOK},
		{"2025-01-02T03:04:05+03", "2025-01-02T00:04:05Z", timeOK},
		{"2025-01-01T00:30:00+01:00", "2024-12-31T23:30:00Z", timeOK},
		{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z", timeOK},
		{"2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z", timeOK},
		{"9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999999Z", timeOK},
		{"0001-01-01T00:00:00", "", timeOK},
		{"0001-01-01T00:00:00Z", "", timeOK},
		{"", "", timeSyntax},
		{"yesterday", "", timeSyntax},
		{"2025-01-02", "", timeSyntax},
		{"2025-01-02T03:04", "", timeSyntax},
		{"2025/01/02T03:04:05Z", "", timeSyntax},
		{"2025-01-02X03:04:05Z", "", timeSyntax},
		{"2025-01-02T03:04:05.Z", "", timeSyntax},
		{"2025-01-02T03:04:05ZZ", "", timeSyntax},
		{"2025-01-02T03:04:05+1", "", timeSyntax},
		{"2025-01-02T03:04:05+01:0", "", timeSyntax},
		{"2025-01-02T03:04:05 ", "", timeSyntax},
		{"2025-0a-02T03:04:05Z", "", timeSyntax},
		{"+2025-01-02T03:04:05Z", "", timeSyntax},
		{"2025-00-02T03:04:05Z", "", timeRange},
		{"2025-04-31T03:04:05Z", "", timeRange},
		{"1900-02-29T03:04:05Z", "", timeRange},
		{"2025-01-02T24:00:00Z", "", timeRange},
		{"2025-01-02T23:60:00Z", "", timeRange},
		{"2025-01-02T23:59:60Z", "", timeRange},
		{"2025-01-02T23:59:59+24:00", "", timeRange},
		{"0001-01-01T00:00:00+00:01", "", timeRange},
		{"9999-12-31T23:59:59-01:00", "", timeRange},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in)
		if err != tt.err {
			t.Errorf("parseTime(%q) error %d, want %d", tt.in, err, tt.err)
			continue
		}
		if err != timeOK {
			continue
		}
		if tt.want == "" {
			if !got.IsZero() {
				t.Errorf("parseTime(%q) = %v, want the zero time", tt.in, got)
			}
			continue
		}
		if got.Location() != time.UTC {
			t.Errorf("parseTime(%q) location %v, want UTC", tt.in, got.Location())
		}
		if s := got.Format(time.RFC3339Nano); s != tt.want {
			t.Errorf("parseTime(%q) = %s, want %s", tt.in, s, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
		err  durationError
	}{
		{"0", 0, durationOK},
		{"65", 65, durationOK},
		{"65.4", 65, durationOK},
		{"65.5", 66, durationOK},
		{"6.55e1", 66, durationOK},
		{"-0", 0, durationOK},
		{"2147483647", 2147483647, durationOK},
		{"00:00:00", 0, durationOK},
		{"00:01:05", 65, durationOK},
		{"0:1:5", 65, durationOK},
		{"23:59:59", 86399, durationOK},
		{"00:00:00.4999999", 0, durationOK},
		{"00:00:00.5", 1, durationOK},
		{"00:00:59.9", 60, durationOK},
		{"1.02:03:04.5", 93785, durationOK},
		{"1.02:03:04", 93784, durationOK},
		{"1:02:03:04", 93784, durationOK},
		{"10675199.02:48:05.4775807", 0, durationRange},
		{"-00:00:00", 0, durationOK},
		{"-00:00:00.4", 0, durationOK},
		{"-1", 0, durationNegative},
		{"-0.5", 0, durationNegative},
		{"-0.4", 0, durationNegative},
		{"-00:00:01", 0, durationNegative},
		{"-1.00:00:00", 0, durationNegative},
		{"2147483648", 0, durationRange},
		{"1e10", 0, durationRange},
		{"1e400", 0, durationRange},
		{"24:00:00", 0, durationRange},
		{"00:60:00", 0, durationRange},
		{"00:00:60", 0, durationRange},
		{"", 0, durationSyntax},
		{"abc", 0, durationSyntax},
		{"1.", 0, durationSyntax},
		{".5", 0, durationSyntax},
		{"1e", 0, durationSyntax},
		{"0x10", 0, durationSyntax},
		{"NaN", 0, durationSyntax},
		{"Inf", 0, durationSyntax},
		{"1_000", 0, durationSyntax},
		{"00:05", 0, durationSyntax},
		{"00:00:05.", 0, durationSyntax},
		{"00:00:05.x", 0, durationSyntax},
		{"1.2.00:00:00", 0, durationSyntax},
		{"1:2:3:4:5", 0, durationSyntax},
		{"000:00:00", 0, durationSyntax},
		{"00:000:00", 0, durationSyntax},
		{".00:00:00", 0, durationSyntax},
		{":00:00:00", 0, durationSyntax},
		{"PT1M5S", 0, durationSyntax},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if err != tt.err || (err == durationOK && got != tt.want) {
			t.Errorf("parseDuration(%q) = %d, %d; want %d, %d", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestIsNull(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"Null": true, "null": true, "NULL": true, "nUlL": true, "": false, "Nul": false, "Nulls": false, "None": false, "nul\x0c": false} {
		if got := isNull(in); got != want {
			t.Errorf("isNull(%q) = %v, want %v", in, got, want)
		}
	}
}
