package bench

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of the CPU times in /proc/stat; it is 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// machineCPU returns the CPU time all processes of this machine have used
// since boot (user, nice, system, irq and softirq time in /proc/stat), and
// whether it could be read. Less this process's own CPU time over the same
// span, it is what the rest of the machine used: the PostgreSQL server,
// its background workers (those that exited in the span too) and anything
// else that ran, so it is the database's cost only on an otherwise quiet
// machine.
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return 0, false
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		n, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, true
}
