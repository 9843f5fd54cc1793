package mapping

import (
	"fmt"
	"testing"
	"time"
)

// TestStrftimeInZones checks every strftime directive against the time's own
// accessors in zones with odd offsets and daylight saving time, around
// transitions, year ends and before 1970: appendFormat looks the zone up once
// and reads the fields from a shifted UTC time, which must not change them.
func TestStrftimeInZones(t *testing.T) {
	t.Parallel()
	f, err := parseDateFormat("%Y|%m|%d|%e|%H|%I|%M|%S|%y|%b|%B|%a|%A|%j|%p|%z|%Z|%f|%L|%s|%F %T|%%")
	if err != nil {
		t.Fatal(err)
	}
	base := []time.Time{
		time.Date(2025, 3, 30, 0, 59, 59, 999_999_999, time.UTC), // Europe: DST starts at 01:00 UTC
		time.Date(2025, 3, 30, 1, 0, 0, 0, time.UTC),
		time.Date(2025, 10, 26, 0, 30, 0, 0, time.UTC), // Europe: DST ends at 01:00 UTC
		time.Date(2025, 10, 26, 1, 30, 0, 0, time.UTC),
		time.Date(2025, 3, 9, 6, 59, 0, 0, time.UTC), // New York: DST starts at 07:00 UTC
		time.Date(2025, 12, 31, 23, 30, 0, 123_456_000, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2100, 6, 15, 11, 0, 0, 0, time.UTC),
	}
	for _, zone := range []string{"UTC", "Europe/Kyiv", "America/New_York", "Asia/Kathmandu", "Pacific/Chatham", "Australia/Lord_Howe", "America/St_Johns"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range base {
			for _, d := range []time.Duration{0, -time.Hour, time.Hour, 12 * time.Hour, -12 * time.Hour} {
				tm := b.Add(d).In(loc)
				h12 := tm.Hour() % 12
				if h12 == 0 {
					h12 = 12
				}
				ampm := "AM"
				if tm.Hour() >= 12 {
					ampm = "PM"
				}
				want := fmt.Sprintf("%04d|%02d|%02d|%2d|%02d|%02d|%02d|%02d|%02d|%s|%s|%s|%s|%03d|%s|%s|%s|%06d|%03d|%d|%s|%%",
					tm.Year(), int(tm.Month()), tm.Day(), tm.Day(), tm.Hour(), h12, tm.Minute(), tm.Second(), tm.Year()%100,
					tm.Month().String()[:3], tm.Month(), tm.Weekday().String()[:3], tm.Weekday(), tm.YearDay(), ampm,
					tm.Format("-0700"), tm.Format("MST"), tm.Nanosecond()/1000, tm.Nanosecond()/1e6, tm.Unix(), tm.Format("2006-01-02 15:04:05"))
				if got := f.format(tm); got != want {
					t.Fatalf("%s %v:\ngot  %s\nwant %s", zone, tm, got, want)
				}
			}
		}
	}
}
