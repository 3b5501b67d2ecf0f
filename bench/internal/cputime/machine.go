package cputime

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Machine is the CPU time all processes of the machine have used since
// boot, all CPUs: /proc/stat's user + nice + system + irq + softirq +
// steal (guest time is already in user; idle and iowait are not busy).
// 0 where there is no /proc/stat.
func Machine() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += v
	}
	const clockTick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(ticks) * clockTick
}
