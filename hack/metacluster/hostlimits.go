package metacluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// hostLimit is a kernel limit of the host that the meta node's density needs at least.
type hostLimit struct {
	key  string // below /proc/sys
	want int
}

// hostLimits: every tenant's kube-apiserver holds six inotify instances (its certificate and
// configuration file watches, counted on this machine) and all tenants run as uid 65532, while the
// kernel allows 128 instances per user by default: about 20 tenants. 40 tenants need 240.
var hostLimits = []hostLimit{
	{key: "fs/inotify/max_user_instances", want: 1024},
	{key: "fs/inotify/max_user_watches", want: 524288},
}

func (c Config) hostLimitsFile() string { return c.path("host-limits.json") }

// raiseHostLimits raises each host limit below what the meta node needs and records the values it
// found, for restoreHostLimits.
func (c Config) raiseHostLimits() (raised []string, err error) {
	found := map[string]int{}
	if data, err := os.ReadFile(c.hostLimitsFile()); err == nil {
		if err := json.Unmarshal(data, &found); err != nil {
			return nil, fmt.Errorf("host limits: %s: %w", c.hostLimitsFile(), err)
		}
	}
	for _, l := range hostLimits {
		current, err := readSysctl(l.key)
		if err != nil {
			return raised, err
		}
		if current >= l.want {
			continue
		}
		if _, ok := found[l.key]; !ok {
			found[l.key] = current
		}
		data, err := json.Marshal(found)
		if err != nil {
			return raised, err
		}
		// Recorded before the change: a crash in between leaves a record, not a lost value.
		if err := os.WriteFile(c.hostLimitsFile(), data, 0o644); err != nil {
			return raised, fmt.Errorf("host limits: %w", err)
		}
		if err := os.WriteFile("/proc/sys/"+l.key, []byte(strconv.Itoa(l.want)), 0o644); err != nil {
			return raised, fmt.Errorf("host limits: raise %s to %d: %w", l.key, l.want, err)
		}
		raised = append(raised, fmt.Sprintf("%s %d -> %d", strings.ReplaceAll(l.key, "/", "."), current, l.want))
	}
	return raised, nil
}

// restoreHostLimits puts back the limits raiseHostLimits changed.
func (c Config) restoreHostLimits() error {
	data, err := os.ReadFile(c.hostLimitsFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host limits: %w", err)
	}
	found := map[string]int{}
	if err := json.Unmarshal(data, &found); err != nil {
		return fmt.Errorf("host limits: %s: %w", c.hostLimitsFile(), err)
	}
	var errs []error
	for key, value := range found {
		if err := os.WriteFile("/proc/sys/"+key, []byte(strconv.Itoa(value)), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("host limits: restore %s to %d: %w", key, value, err))
		}
	}
	if len(errs) == 0 {
		return os.Remove(c.hostLimitsFile())
	}
	return errors.Join(errs...)
}

func readSysctl(key string) (int, error) {
	data, err := os.ReadFile("/proc/sys/" + key)
	if err != nil {
		return 0, fmt.Errorf("host limits: %w", err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("host limits: %s: %w", key, err)
	}
	return v, nil
}
