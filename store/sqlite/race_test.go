//go:build race

package sqlite_test

// raceEnabled reports whether the tests run with the race detector, which
// slows SQLite (compiled from C to Go, every access checked) about fiftyfold.
const raceEnabled = true
