package tenants

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Timeline is where the time of a tenant master's latest install, upgrade or rollback went,
// from the objects' own timestamps: Helm's record of each hook Job, each volume's provisioning,
// and each control-plane Pod's way from creation to Ready. The JSON names are the CLI's
// `-o json` contract.
type Timeline struct {
	Name      string    `json:"name"`
	Namespace string    `json:"namespace"`
	Revision  int       `json:"revision"`
	Status    string    `json:"status"`
	Started   time.Time `json:"started"`
	// Spans are sorted by start. Each span's offsets are seconds after Started.
	Spans []Span `json:"spans"`
}

// Span is one stretch of the timeline.
type Span struct {
	// What names the object and the stretch, e.g. "pod tenant-a-etcd-0: scheduling".
	What  string    `json:"what"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Note says more, e.g. a restart and why.
	Note string `json:"note,omitempty"`
}

// Seconds is the span's length.
func (s Span) Seconds() float64 { return s.End.Sub(s.Start).Seconds() }

// End is when the last span ended.
func (t Timeline) End() time.Time {
	end := t.Started
	for _, s := range t.Spans {
		if s.End.After(end) {
			end = s.End
		}
	}
	return end
}

// Timeline returns the timeline of the latest revision of tenant master name.
func (m *Manager) Timeline(ctx context.Context, namespace, name string) (Timeline, error) {
	rel, err := m.latest(namespace, name)
	if err != nil {
		return Timeline{}, fmt.Errorf("timeline of %s in namespace %s: %w", name, namespace, err)
	}
	client, err := m.cluster.Clientset()
	if err != nil {
		return Timeline{}, err
	}
	t, err := timelineOf(ctx, client, rel)
	if err != nil {
		return Timeline{}, fmt.Errorf("timeline of %s in namespace %s: %w", name, namespace, err)
	}
	return t, nil
}

func timelineOf(ctx context.Context, client kubernetes.Interface, rel *release.Release) (Timeline, error) {
	t := Timeline{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version,
		Status: rel.Info.Status.String(), Started: rel.Info.LastDeployed.Time}
	for _, h := range rel.Hooks {
		run := h.LastRun
		if h.Kind != "Job" || run.StartedAt.IsZero() || run.StartedAt.Time.Before(t.Started) {
			continue
		}
		end := run.CompletedAt.Time
		if end.IsZero() {
			end = run.StartedAt.Time // still running, or Helm stopped waiting
		}
		t.Spans = append(t.Spans, Span{What: fmt.Sprintf("hook %s (%s)", h.Name, eventsOf(h)), Start: run.StartedAt.Time, End: end,
			Note: string(run.Phase)})
	}
	selector := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + rel.Name}
	claims, err := client.CoreV1().PersistentVolumeClaims(rel.Namespace).List(ctx, selector)
	if err != nil {
		return Timeline{}, fmt.Errorf("list volume claims: %w", err)
	}
	for _, c := range claims.Items {
		if c.CreationTimestamp.Time.Before(t.Started) || c.Spec.VolumeName == "" {
			continue
		}
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			continue // the volume is gone or not readable: the claim tells nothing more
		}
		t.Spans = append(t.Spans, Span{What: "volume " + c.Name + ": provisioning", Start: c.CreationTimestamp.Time, End: pv.CreationTimestamp.Time})
	}
	pods, err := client.CoreV1().Pods(rel.Namespace).List(ctx, selector)
	if err != nil {
		return Timeline{}, fmt.Errorf("list Pods: %w", err)
	}
	for _, p := range pods.Items {
		if p.CreationTimestamp.Time.Before(t.Started) || p.Labels["app.kubernetes.io/component"] == "" {
			continue
		}
		t.Spans = append(t.Spans, podSpans(p)...)
	}
	slices.SortStableFunc(t.Spans, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return t, nil
}

func eventsOf(h *release.Hook) string {
	events := make([]string, len(h.Events))
	for i, e := range h.Events {
		events[i] = string(e)
	}
	return strings.Join(events, ",")
}

// podSpans splits a Pod's way to Ready at its conditions: scheduling (created to scheduled), init
// containers (to initialized), starting its containers (to the last container's start) and
// becoming Ready. A stretch not reached yet is left out; restarts go into the note.
func podSpans(p corev1.Pod) []Span {
	at := map[corev1.PodConditionType]time.Time{}
	for _, c := range p.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			at[c.Type] = c.LastTransitionTime.Time
		}
	}
	var started time.Time
	var restarts int32
	note := ""
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil && cs.State.Running.StartedAt.After(started) {
			started = cs.State.Running.StartedAt.Time
		}
		restarts += cs.RestartCount
		if last := cs.LastTerminationState.Terminated; last != nil {
			note = fmt.Sprintf("%s restarted %d times, last exit %d (%s) at %s", cs.Name, cs.RestartCount, last.ExitCode, last.Reason,
				last.FinishedAt.UTC().Format(time.RFC3339))
		}
	}
	steps := []struct {
		what string
		end  time.Time
	}{
		{"scheduling", at[corev1.PodScheduled]},
		{"init containers", at[corev1.PodInitialized]},
		{"starting containers", started},
		{"becoming Ready", at[corev1.PodReady]},
	}
	var spans []Span
	from := p.CreationTimestamp.Time
	for _, s := range steps {
		if s.end.IsZero() || s.end.Before(from) {
			continue
		}
		spans = append(spans, Span{What: fmt.Sprintf("pod %s: %s", p.Name, s.what), Start: from, End: s.end})
		from = s.end
	}
	if restarts > 0 && len(spans) > 0 {
		spans[len(spans)-1].Note = note
	}
	return spans
}
