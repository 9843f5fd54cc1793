//go:build !race

package delivery

// raceEnabled reports whether the race detector is on; timing measurements
// shrink under it, since it slows the code tenfold.
const raceEnabled = false
