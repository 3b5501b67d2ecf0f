package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one contender process. Its stdout carries protocol lines
// ("progress <ns> <handled> [applied]", "ready <ns>", ...); stderr goes to a
// log file.
type child struct {
	name   string
	cmd    *exec.Cmd
	launch time.Time
	log    string
	exited chan struct{}

	mu        sync.Mutex
	handled   int64
	applied   int64
	lastAt    time.Time
	marks     map[string]time.Time // first occurrence of ready, recovered, assigned, url, state:<S>
	url       string
	restStart time.Time // first restore-start (Kafka Streams)
	restEnd   time.Time // last restore-end
	restored  int64
	restParts int
	waitErr   error
	onLine    func() // called (unlocked) after each progress line
}

func startChild(name, logPath string, argv ...string) (*child, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = lf
	out, err := cmd.StdoutPipe()
	if err != nil {
		lf.Close()
		return nil, err
	}
	c := &child{name: name, cmd: cmd, log: logPath, exited: make(chan struct{}), marks: map[string]time.Time{}}
	c.launch = time.Now()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		c.read(out, lf)
		err := cmd.Wait()
		lf.Close()
		c.mu.Lock()
		c.waitErr = err
		c.mu.Unlock()
		close(c.exited)
	}()
	return c, nil
}

func (c *child) read(r io.Reader, echo io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintf(echo, "[stdout %s] %s\n", time.Now().Format("15:04:05.000"), line)
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if f[0] == "url" {
			c.mu.Lock()
			c.url = f[1]
			c.mu.Unlock()
			continue
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		at := time.Unix(0, ns)
		num := func(i int) int64 {
			if i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
			return 0
		}
		c.mu.Lock()
		switch f[0] {
		case "progress":
			c.handled, c.lastAt = num(2), at
			if len(f) > 3 {
				c.applied = num(3)
			} else {
				c.applied = c.handled
			}
		case "state":
			if len(f) > 2 {
				c.mark("state:"+f[2], at)
			}
		case "restore-start":
			if c.restStart.IsZero() {
				c.restStart = at
			}
		case "note":
			notes.add(strings.Join(f[2:], " "))
		case "restore-end":
			c.restEnd = at
			c.restored += num(3)
			c.restParts++
		default:
			c.mark(f[0], at)
		}
		fn := c.onLine
		c.mu.Unlock()
		if f[0] == "progress" && fn != nil {
			fn()
		}
	}
}

func (c *child) mark(k string, at time.Time) {
	if _, ok := c.marks[k]; !ok {
		c.marks[k] = at
	}
}

func (c *child) Mark(k string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.marks[k]
	return t, ok
}

func (c *child) Progress() (handled, applied int64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handled, c.applied, c.lastAt
}

func (c *child) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.url
}

func (c *child) Exited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits (SIGKILL after timeout).
func (c *child) stop(timeout time.Duration) {
	if c.Exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// notes collects the contenders' "note" lines for the report.
var notes noteSet

type noteSet struct {
	mu   sync.Mutex
	list []string
}

func (n *noteSet) add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range n.list {
		if x == s {
			return
		}
	}
	n.list = append(n.list, s)
}

func (n *noteSet) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.list...)
}

// usage is a process's resource use: CPU (user+sys) and peak RSS.
type usage struct {
	CPU     time.Duration
	PeakRSS int64 // bytes
}

// procUsage reads /proc/<pid> (Linux): CPU so far and the RSS high-water mark.
func procUsage(pid int) (usage, error) {
	var u usage
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return u, fmt.Errorf("odd /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return u, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	u.CPU = time.Duration(ut+st) * time.Second / clkTck
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			u.PeakRSS = kb << 10
		}
	}
	return u, nil
}

// clkTck is USER_HZ, 100 on every Linux architecture Go runs on in practice.
const clkTck = 100

func (c *child) usage() usage {
	u, _ := procUsage(c.cmd.Process.Pid)
	return u
}

// rusage is the exited child's getrusage (whole lifetime).
func (c *child) rusage() (usage, bool) {
	if !c.Exited() || c.cmd.ProcessState == nil {
		return usage{}, false
	}
	ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return usage{}, false
	}
	return usage{
		CPU:     time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		PeakRSS: ru.Maxrss << 10,
	}, true
}
