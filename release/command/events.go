package command

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/taowa/taowa/release/tenants"
)

func newEvents(g *globals) *cobra.Command {
	var since time.Duration
	var follow bool
	cmd := &cobra.Command{
		Use:   "events NAME",
		Short: "Show what happened to a tenant master: its Kubernetes Events, hook Jobs and Helm revisions, oldest first",
		Long: `Show what happened to a tenant master, oldest first, from three sources (the SOURCE column):

  event  the Kubernetes Events in its namespace of its objects (Pods, ReplicaSets, Deployments,
         StatefulSets, Jobs, volume claims, Services: the objects named after the release) and of
         its taowa.io Cluster, on which the operator records each change of state
  hook   each run of a hook Job, from Helm's record of each revision: the Jobs delete themselves
         when they succeed
  helm   each revision Helm keeps: its install, upgrade or rollback, status and Kubernetes version

The meta cluster keeps Events for an hour by default (kube-apiserver --event-ttl). A failed hook
or revision is a Warning. Reading Events needs list (and, with --watch, watch) on events in the
namespace.

With --watch, the entries so far are followed by new ones as they come, until interrupted: an
Event again each time it recurs (its COUNT rises), and Helm's record read every few seconds.`,
		Example: `  taowa events tenant-a -n tenant-a --since 30m
  taowa events tenant-a -n tenant-a --watch -o json   # one JSON object per line`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if since < 0 {
				return fmt.Errorf("--since %s: want a positive duration, such as 30m or 2h", since)
			}
			var from time.Time
			if since > 0 {
				from = time.Now().Add(-since)
			}
			m, err := g.manager()
			if err != nil {
				return err
			}
			if follow {
				return m.WatchEvents(cmd.Context(), g.releaseNamespace(), args[0], from, eventPrinter(g))
			}
			events, err := m.Events(cmd.Context(), g.releaseNamespace(), args[0], from)
			if err != nil {
				return err
			}
			if events == nil {
				events = []tenants.Event{} // [] rather than null in JSON
			}
			return write(g.stdout, g.output, events, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, strings.Join(eventColumns, "\t"))
				for _, e := range events {
					fmt.Fprintln(tw, strings.Join(eventRow(e), "\t"))
				}
			})
		},
	}
	cmd.Flags().DurationVar(&since, "since", 0, "leave out entries older than this, such as 30m or 2h (default: all that are kept)")
	cmd.Flags().BoolVarP(&follow, "watch", "w", false,
		"then print new entries as they come until interrupted: -o json prints one JSON object per line, -o yaml one document per entry")
	return cmd
}

var eventColumns = []string{"TIME", "TYPE", "SOURCE", "OBJECT", "REASON", "COUNT", "MESSAGE"}

// eventRow is e's cells under eventColumns; the message on one line, so that a row is one.
func eventRow(e tenants.Event) []string {
	return []string{timestamp(e.Time), e.Type, e.Source, e.Object, e.Reason, strconv.Itoa(int(e.Count)),
		dash(strings.Join(strings.Fields(e.Message), " "))}
}

// eventPrinter prints each entry of a watch as it comes, in g's output: a JSON object per line, a
// YAML document, or a table row (the header before the first).
func eventPrinter(g *globals) func(tenants.Event) error {
	switch g.output {
	case outputJSON:
		enc := json.NewEncoder(g.stdout)
		return func(e tenants.Event) error { return enc.Encode(e) }
	case outputYAML:
		return func(e tenants.Event) error {
			out, err := yaml.Marshal(e)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "---\n%s", out)
			return err
		}
	}
	// Wide enough for most rows, so that they line up under the header: a time, Warning, a source,
	// a Pod of a ReplicaSet of a 10-character release, most reasons, a count.
	table := &streamTable{w: g.stdout, widths: []int{len(timestamp(time.Now())), len(corev1.EventTypeWarning), len(tenants.SourceEvent), 48, 24, 5}}
	header := true
	return func(e tenants.Event) error {
		if header {
			header = false
			if err := table.row(eventColumns); err != nil {
				return err
			}
		}
		return table.row(eventRow(e))
	}
}

// streamTable writes a table a row at a time, each cell padded to its column's widest so far: a
// tabwriter aligns only the rows it holds back.
type streamTable struct {
	w      io.Writer
	widths []int // of every column but the last
}

func (t *streamTable) row(cells []string) error {
	var b strings.Builder
	for i, c := range cells {
		if i == len(t.widths) {
			b.WriteString(c + "\n")
			break
		}
		t.widths[i] = max(t.widths[i], utf8.RuneCountInString(c))
		fmt.Fprintf(&b, "%-*s  ", t.widths[i], c)
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}
