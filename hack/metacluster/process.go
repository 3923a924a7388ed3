package metacluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A daemon is one long-running process of the cluster. Its PID and kernel start time are recorded
// in run/<name>.pid: a stop signals the recorded process only if the start time still matches, so
// a PID reused by an unrelated process after a crash is never signalled.
type daemon struct {
	name string
	bin  string
	args []string
	// netns is the path of the network namespace it runs in; empty means the cluster's.
	netns string
}

type pidRecord struct {
	pid       int
	startTime uint64
}

func (c Config) pidFile(name string) string { return c.path("run", name+".pid") }
func (c Config) logFile(name string) string { return c.path("logs", name+".log") }

// start runs d detached from the caller (own session, output to its log file) inside its network
// namespace. nsenter execs the binary, so the recorded PID is the daemon's own.
func (c Config) start(d daemon) (pidRecord, error) {
	for _, dir := range []string{c.path("run"), c.path("logs")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return pidRecord{}, err
		}
	}
	log, err := os.OpenFile(c.logFile(d.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return pidRecord{}, err
	}
	defer log.Close()
	netns := d.netns
	if netns == "" {
		netns = netnsPath()
	}
	argv := append([]string{"--net=" + netns, "--", d.bin}, d.args...)
	cmd := exec.Command("nsenter", argv...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return pidRecord{}, fmt.Errorf("start %s: %w", d.name, err)
	}
	rec := pidRecord{pid: cmd.Process.Pid}
	if rec.startTime, err = procStartTime(rec.pid); err != nil {
		return pidRecord{}, fmt.Errorf("start %s: %w", d.name, err)
	}
	// Reap it in the background so that an early exit is visible as "not running" rather than as
	// a zombie while this process is still waiting for the cluster.
	go func() { _ = cmd.Wait() }()
	data := fmt.Sprintf("%d %d\n", rec.pid, rec.startTime)
	if err := os.WriteFile(c.pidFile(d.name), []byte(data), 0o644); err != nil {
		return pidRecord{}, fmt.Errorf("record PID of %s: %w", d.name, err)
	}
	return rec, nil
}

// running reports the recorded process of name, if it is still the same process and alive.
func (c Config) running(name string) (pidRecord, bool) {
	data, err := os.ReadFile(c.pidFile(name))
	if err != nil {
		return pidRecord{}, false
	}
	var rec pidRecord
	if _, err := fmt.Sscanf(string(data), "%d %d", &rec.pid, &rec.startTime); err != nil {
		return pidRecord{}, false
	}
	return rec, rec.alive()
}

func (r pidRecord) alive() bool {
	st, err := procStartTime(r.pid)
	if err != nil || st != r.startTime {
		return false
	}
	state, err := procState(r.pid)
	return err == nil && state != 'Z' && state != 'X'
}

// stop ends the recorded process of name: SIGTERM, then SIGKILL after grace.
func (c Config) stop(name string, grace time.Duration) error {
	defer os.Remove(c.pidFile(name))
	rec, ok := c.running(name)
	if !ok {
		return nil
	}
	return terminate(rec, grace)
}

func terminate(rec pidRecord, grace time.Duration) error {
	_ = syscall.Kill(rec.pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !rec.alive() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(rec.pid, syscall.SIGKILL)
	for range 100 {
		if !rec.alive() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("process %d did not exit after SIGKILL", rec.pid)
}

// procStat returns the fields of /proc/PID/stat after the command name (field 3 onwards).
func procStat(pid int) ([]string, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, err
	}
	// The command name is in parentheses and may itself contain spaces or parentheses.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return nil, errors.New("malformed /proc stat")
	}
	return strings.Fields(string(data[i+1:])), nil
}

func procStartTime(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil || len(f) < 20 {
		return 0, fmt.Errorf("read start time of process %d: %v", pid, err)
	}
	return strconv.ParseUint(f[19], 10, 64) // field 22, starttime
}

func procState(pid int) (byte, error) {
	f, err := procStat(pid)
	if err != nil || len(f) == 0 {
		return 0, fmt.Errorf("read state of process %d: %v", pid, err)
	}
	return f[0][0], nil
}

// logTail returns the last lines of a daemon's log, for error messages.
func (c Config) logTail(name string, lines int) string {
	data, err := os.ReadFile(c.logFile(name))
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
