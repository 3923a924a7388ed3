package command

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/taowa/taowa/release/tenants"
)

// writeHealth prints h: a row per component, then the scheduled snapshots, the certificate that
// expires first (relative to now) and any certificate that could not be read.
func writeHealth(g *globals, h tenants.Health, now time.Time) error {
	return write(g.stdout, g.output, h, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "COMPONENT\tHEALTHY\tREADY\tRESTARTS\tREASON\tMESSAGE")
		for _, c := range h.Components {
			fmt.Fprintf(tw, "%s\t%t\t%d/%d\t%d\t%s\t%s\n", c.Component, c.Healthy, c.Ready, c.Desired, c.Restarts, c.Reason, dash(c.Message))
		}
		fmt.Fprintln(tw)
		for _, e := range h.Etcd {
			if e.Unreadable != "" {
				fmt.Fprintf(tw, "ETCD %s: unreadable: %s\n", e.Pod, e.Unreadable)
				continue
			}
			alarms := "none"
			if len(e.Alarms) > 0 {
				alarms = strings.Join(e.Alarms, ", ")
			}
			fmt.Fprintf(tw, "ETCD %s: database %s (%s in use), %.0f%% of its %s quota; alarms: %s\n", e.Pod, humanize.IBytes(uint64(e.DBSize)),
				humanize.IBytes(uint64(e.DBSizeInUse)), 100*e.QuotaUsed(), humanize.IBytes(uint64(e.Quota)), alarms)
		}
		if s := h.Snapshots; s != nil {
			last := "none yet"
			if s.LastSuccess != nil {
				last = fmt.Sprintf("%s (%s ago)", timestamp(*s.LastSuccess), roughly(now.Sub(*s.LastSuccess)))
			}
			fmt.Fprintf(tw, "SNAPSHOTS: the last scheduled one succeeded %s\n", last)
			if s.Failed {
				fmt.Fprintf(tw, "SNAPSHOTS: FAILED: %s\n", s.Message)
			}
		}
		c := h.Certificates
		if c == nil {
			fmt.Fprintf(tw, "CERTIFICATES: none found (no Secret labelled taowa.io/release=%s)\n", h.Name)
			return
		}
		if c.Count > 0 {
			fmt.Fprintf(tw, "CERTIFICATES: the earliest of %d expires %s (%s): Secret %s, %s, CN %s\n", c.Count, timestamp(c.NotAfter),
				expiresIn(c.NotAfter.Sub(now)), c.Secret, c.Key, c.Subject)
		} else {
			fmt.Fprintln(tw, "CERTIFICATES: none readable")
		}
		for _, u := range c.Unreadable {
			fmt.Fprintf(tw, "UNREADABLE: %s\n", u)
		}
	})
}

// expiresIn says how far away d is, roughly: "in 364d", "in 5h", "EXPIRED 3h ago".
func expiresIn(d time.Duration) string {
	if d <= 0 {
		return "EXPIRED " + roughly(-d) + " ago"
	}
	return "in " + roughly(d)
}

func roughly(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	default:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
}

// unhealthy is the error the command exits with when h is not healthy, naming what is wrong, as
// doctor does for failed hops; nil when healthy.
func unhealthy(h tenants.Health, now time.Time) error {
	if h.Healthy {
		return nil
	}
	var wrong []string
	for _, c := range h.Components {
		if !c.Healthy {
			wrong = append(wrong, c.Component+" "+c.Reason)
		}
	}
	if h.Certificates.Expired(now) {
		wrong = append(wrong, fmt.Sprintf("certificate in Secret %s (%s) expired", h.Certificates.Secret, h.Certificates.Key))
	}
	return fmt.Errorf("%s in namespace %s is unhealthy: %s", h.Name, h.Namespace, strings.Join(wrong, "; "))
}
