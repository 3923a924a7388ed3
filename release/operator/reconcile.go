// Package operator reconciles taowa.io/v1alpha1 Clusters into Helm releases of
// charts/tenant-master through package tenants: the same Helm actions and in-process
// post-renderer as the taowa command, so an upgrade the operator makes walks one minor at a time
// through the same gates as the chart's hooks.
package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/versions"
)

// Reconciler brings one Cluster at a time towards its spec.
type Reconciler struct {
	Tenants *tenants.Manager
	Kube    kubernetes.Interface
	// Clusters is the dynamic client of the Cluster resource.
	Clusters dynamic.NamespaceableResourceInterface
	Events   record.EventRecorder
	// Rollout bounds and waits each Helm operation; Atomic makes a failed one roll back.
	Rollout tenants.Rollout
	// Started is when this process became the only operator of its Clusters (it took the leader
	// Lease, or started as the single replica). A Helm operation left pending since before then
	// that no reconcile of this process runs was left by an operator that stopped: Reconcile
	// recovers it (tenants.Manager.Recover). Zero recovers none. Controller.Run sets it.
	Started time.Time
	// Metrics are the per-Cluster series; nil records none.
	Metrics *TenantMetrics
	// Now is the clock of the certificate expiry; nil is time.Now.
	Now func() time.Time

	operations operations
}

// operations counts the Helm operations this process runs, by release: a pending release that
// one of them holds is live, whatever Started says, and is never recovered.
type operations struct {
	mu      sync.Mutex
	running map[cache.ObjectName]int
}

// begin records an operation on the release of c until end is called.
func (o *operations) begin(c *v1alpha1.Cluster) (end func()) {
	key := cache.ObjectName{Namespace: c.Namespace, Name: c.Name}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.running == nil {
		o.running = map[cache.ObjectName]int{}
	}
	o.running[key]++
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.running[key]--; o.running[key] == 0 {
			delete(o.running, key)
		}
	}
}

func (o *operations) live(c *v1alpha1.Cluster) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.running[cache.ObjectName{Namespace: c.Namespace, Name: c.Name}] > 0
}

// chartTurnRetry is how soon a tenant waiting for its turn of a chart rollout is looked at again.
const chartTurnRetry = 15 * time.Second

// Result says when to look at a Cluster again.
type Result struct {
	// Requeue: more steps are due (a walk across minors) or the operator waits for something.
	Requeue      bool
	RequeueAfter time.Duration
}

// Reasons of the Cluster's conditions.
const (
	ReasonInstalling       = "Installing"
	ReasonUpgrading        = "Upgrading"
	ReasonApplied          = "Applied"
	ReasonInvalidSpec      = "InvalidSpec"
	ReasonRefused          = "Refused"
	ReasonUpgradeFailed    = "UpgradeFailed"
	ReasonRetrying         = "Retrying"
	ReasonOperationPending = "OperationPending"
	ReasonRecovered        = "Recovered"
	ReasonDeleting         = "Deleting"
	ReasonDeleteFailed     = "DeleteFailed"
	ReasonServing          = "Serving"
	ReasonNotServing       = "NotServing"
	ReasonNoRelease        = "NoRelease"
	ReasonHibernated       = v1alpha1.ReasonHibernated
	ReasonHibernating      = v1alpha1.ReasonHibernating

	ReasonCertificatesValid      = "Valid"
	ReasonCertificateExpiresSoon = "ExpiresSoon"
	ReasonCertificateExpired     = "Expired"

	ReasonSnapshotSucceeded = "Succeeded"
	ReasonNoSnapshotYet     = "NoneYet"
	ReasonSnapshotFailed    = "SnapshotFailed"
)

// Reconcile takes one step: add the finalizer, install, one helm upgrade (one minor at most),
// or the deletion; then writes what runs into the status.
func (r *Reconciler) Reconcile(ctx context.Context, c *v1alpha1.Cluster) (Result, error) {
	if c.DeletionTimestamp != nil {
		return r.delete(ctx, c)
	}
	if !slices.Contains(c.Finalizers, v1alpha1.Finalizer) {
		// The update that adds it brings the Cluster back through the queue.
		return Result{}, r.setFinalizers(ctx, c, append(slices.Clone(c.Finalizers), v1alpha1.Finalizer))
	}
	status := &c.Status // c is the caller's own copy, read for this reconcile
	result, err := r.apply(ctx, c, status)
	if statusErr := r.observe(ctx, c, status); statusErr != nil {
		return result, errors.Join(err, statusErr)
	}
	return result, err
}

// apply makes one change towards the spec and records its outcome in status's conditions. Only
// what the user must change (a refused spec) or a failed upgrade ends the work on a generation;
// any other error goes back to the controller, whose rate-limited queue retries it with back-off.
func (r *Reconciler) apply(ctx context.Context, c *v1alpha1.Cluster, status *v1alpha1.ClusterStatus) (Result, error) {
	degraded := meta.FindStatusCondition(status.Conditions, v1alpha1.ConditionDegraded)
	if degraded != nil && degraded.Status == metav1.ConditionTrue && degraded.ObservedGeneration == c.Generation &&
		slices.Contains([]string{ReasonInvalidSpec, ReasonRefused, ReasonUpgradeFailed}, degraded.Reason) {
		// A refused spec is refused again, and each try of a failing upgrade is an etcd snapshot,
		// a rollout and a rollback: neither is tried again until the spec changes.
		return Result{}, nil
	}
	version, err := versions.Parse(c.Spec.KubernetesVersion)
	if err != nil {
		r.degrade(c, status, ReasonInvalidSpec, fmt.Errorf("spec.kubernetesVersion: %w", err))
		return Result{}, nil
	}
	// The version table's refusal, typed here: an install would return it like any other error.
	if _, err := versions.ForMinor(version.MajorMinor()); err != nil {
		r.degrade(c, status, ReasonRefused, fmt.Errorf("spec.kubernetesVersion %s: %w", version, err))
		return Result{}, nil
	}
	values, err := ChartValues(c.Spec)
	if err != nil { // not the spec's: only what JSON cannot encode fails
		return Result{}, r.retry(c, status, err)
	}
	end := r.operations.begin(c)
	var restore *tenants.RestoreSource
	if rs := c.Spec.Etcd.Restore; rs != nil {
		restore = &tenants.RestoreSource{From: rs.From, Snapshot: rs.Snapshot, FreshPKI: rs.FreshPKI}
	}
	res, err := r.Tenants.Apply(ctx, c.Name, tenants.ApplyOptions{
		Namespace: c.Namespace, KubernetesVersion: version, Values: values, Rollout: r.Rollout, Restore: restore,
		Starting: func(action tenants.ApplyAction, from, to versions.Version) {
			reason, message := ReasonUpgrading, fmt.Sprintf("upgrading Kubernetes %s -> %s", from, to)
			switch {
			case action == tenants.ApplyChartUpgraded:
				message = fmt.Sprintf("rolling this operator's chart out at Kubernetes %s", to)
			case from == to:
				message = fmt.Sprintf("applying the spec at Kubernetes %s", to)
			}
			if action == tenants.ApplyInstalled {
				reason, message = ReasonInstalling, fmt.Sprintf("installing Kubernetes %s", to)
			}
			r.setCondition(c, status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, reason, message)
			r.Events.Event(reference(c), corev1.EventTypeNormal, reason, message)
			// Written at once: the change takes minutes. A failure here shows in the next write.
			_ = r.writeStatus(ctx, c, status)
		},
	})
	end()
	var (
		refused *tenants.RefusedError
		fixed   *tenants.FixedValueError
		stepErr *tenants.StepError
	)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// This operator's shutdown cancelled the operation (its grace ran out, or the lease was
		// lost): not a failure of the change. The next leader recovers what it left pending.
		return Result{}, err
	case errors.As(err, &refused), errors.As(err, &fixed):
		r.degrade(c, status, ReasonRefused, err)
		return Result{}, nil
	case errors.As(err, &stepErr) && !stepErr.Unchanged:
		// Helm ran the step, and it failed: rolled back, or a failed revision.
		r.degrade(c, status, ReasonUpgradeFailed, err)
		return Result{}, nil
	case errors.Is(err, tenants.ErrOperationPending):
		return r.pending(ctx, c, status, err)
	default:
		return Result{}, r.retry(c, status, err)
	}
	r.setCondition(c, status, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonApplied, "the last change succeeded")
	if res.Remaining > 0 {
		message := fmt.Sprintf("at Kubernetes %s, %d more minor(s) to %s", res.Release.KubernetesVersion, res.Remaining, version)
		r.setCondition(c, status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonUpgrading, message)
		return Result{Requeue: true}, nil
	}
	if res.ChartPending {
		// Another tenant's chart rollout is in flight: this one's turn comes later.
		r.setCondition(c, status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonUpgrading,
			"waiting for its turn to get this operator's chart (one tenant at a time)")
		return Result{RequeueAfter: chartTurnRetry}, nil
	}
	r.setCondition(c, status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonApplied,
		fmt.Sprintf("revision %d deploys the spec", res.Release.Revision))
	if res.Action != tenants.ApplyUnchanged {
		r.Events.Event(reference(c), corev1.EventTypeNormal, ReasonApplied,
			fmt.Sprintf("revision %d runs Kubernetes %s", res.Release.Revision, res.Release.KubernetesVersion))
	}
	return Result{}, nil
}

// pending handles a release that a Helm operation holds. One that started before this process
// took over, and that no reconcile of this process runs, was left by an operator that stopped:
// it is recovered, and the next reconcile takes the walk up again. Any other is waited for.
func (r *Reconciler) pending(ctx context.Context, c *v1alpha1.Cluster, status *v1alpha1.ClusterStatus, pendingErr error) (Result, error) {
	if !r.Started.IsZero() && !r.operations.live(c) {
		end := r.operations.begin(c)
		recovered, err := r.Tenants.Recover(ctx, c.Namespace, c.Name, r.Started, r.Rollout)
		end()
		if err != nil {
			return Result{}, r.retry(c, status, err)
		}
		if recovered.Revision > 0 {
			message := fmt.Sprintf("revision %d was left %s by an operator that stopped: marked failed", recovered.Revision, recovered.Status)
			if recovered.RolledBackTo > 0 {
				message += fmt.Sprintf(", and the release rolled back to revision %d", recovered.RolledBackTo)
			}
			r.setCondition(c, status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonRecovered, message+"; resuming")
			r.Events.Event(reference(c), corev1.EventTypeWarning, ReasonRecovered, message)
			return Result{Requeue: true}, nil
		}
	}
	r.degrade(c, status, ReasonOperationPending, pendingErr)
	return Result{RequeueAfter: time.Minute}, nil
}

// degrade records a change that is not going on: refused, failed, or waiting for another's.
func (r *Reconciler) degrade(c *v1alpha1.Cluster, status *v1alpha1.ClusterStatus, reason string, err error) {
	r.setCondition(c, status, v1alpha1.ConditionDegraded, metav1.ConditionTrue, reason, err.Error())
	r.setCondition(c, status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, reason, "no change in progress")
	r.Events.Event(reference(c), corev1.EventTypeWarning, reason, err.Error())
}

// retry records an error that is not the spec's (an unreachable apiserver, a failed install, a
// conflict) and returns it, for the controller's queue to retry with back-off. The change is still
// in progress: Progressing stays True, so that observedGeneration and Degraded, which clients
// read as final, say nothing until it ends.
func (r *Reconciler) retry(c *v1alpha1.Cluster, status *v1alpha1.ClusterStatus, err error) error {
	r.setCondition(c, status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonRetrying, fmt.Sprintf("retrying after: %v", err))
	r.Events.Event(reference(c), corev1.EventTypeWarning, ReasonRetrying, err.Error())
	return err
}

// hasRelease says whether the release of c exists; an error when the lookup itself failed.
func hasRelease(ctx context.Context, m *tenants.Manager, c *v1alpha1.Cluster) (bool, error) {
	_, err := m.Status(ctx, c.Namespace, c.Name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up the release of Cluster %s/%s: %w", c.Namespace, c.Name, err)
	}
	return true, nil
}

// observe writes into status what the release and the apiserver Deployment show, and saves it.
func (r *Reconciler) observe(ctx context.Context, c *v1alpha1.Cluster, status *v1alpha1.ClusterStatus) error {
	if done := meta.FindStatusCondition(status.Conditions, v1alpha1.ConditionProgressing); done == nil || done.Status == metav1.ConditionFalse {
		status.ObservedGeneration = c.Generation
	}
	info, err := r.Tenants.Status(ctx, c.Namespace, c.Name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		status.Revision, status.KubernetesVersion, status.Endpoint, status.KubeconfigSecret = 0, "", "", ""
		r.setCondition(c, status, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoRelease, "the release is not installed")
		return r.writeStatus(ctx, c, status)
	case err != nil:
		return err
	}
	status.Revision = info.Revision
	if info.Status == "deployed" {
		status.KubernetesVersion = info.KubernetesVersion
	}
	if svc, err := r.Kube.CoreV1().Services(c.Namespace).Get(ctx, c.Name+"-apiserver", metav1.GetOptions{}); err == nil && len(svc.Spec.Ports) > 0 {
		status.Endpoint = fmt.Sprintf("https://%s.%s.svc:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port)
	} else if !apierrors.IsNotFound(err) && err != nil {
		return fmt.Errorf("apiserver Service: %w", err)
	}
	if _, err := r.Kube.CoreV1().Secrets(c.Namespace).Get(ctx, c.Name+"-admin-kubeconfig", metav1.GetOptions{}); err == nil {
		status.KubeconfigSecret = c.Name + "-admin-kubeconfig"
	}
	ready, message := r.serving(ctx, c)
	h, healthErr := tenants.TenantHealth(ctx, r.Kube, c.Namespace, c.Name)
	reason := ReasonServing
	switch {
	case c.Spec.Hibernated && !ready && info.Hibernated && healthErr == nil && h.Stopping() > 0:
		reason, message = ReasonHibernating, fmt.Sprintf("hibernating: %d Pods of etcd and the masters still stopping", h.Stopping())
	case c.Spec.Hibernated && !ready && info.Hibernated && healthErr == nil:
		reason, message = ReasonHibernated, "hibernated: etcd and the masters are scaled to zero, their data kept"
	case !ready:
		reason = ReasonNotServing
	}
	r.setCondition(c, status, v1alpha1.ConditionReady, conditionStatus(ready), reason, message)
	if healthErr != nil {
		return errors.Join(fmt.Errorf("health of the components: %w", healthErr), r.writeStatus(ctx, c, status))
	}
	r.observeHealth(c, status, ready, h)
	return r.writeStatus(ctx, c, status)
}

// componentConditions are the condition types of the components' health, by component.
var componentConditions = map[string]string{
	"etcd":                    v1alpha1.ConditionEtcdHealthy,
	"kube-apiserver":          v1alpha1.ConditionAPIServerHealthy,
	"kube-controller-manager": v1alpha1.ConditionControllerManagerHealthy,
	"kube-scheduler":          v1alpha1.ConditionSchedulerHealthy,
}

// CertificateWarning is how long before the earliest certificate's expiry CertificatesValid turns
// False: the PKI hook renews within certificates.renewBefore (30 days by default), so a tenant
// this close to expiry has missed its renewals.
const CertificateWarning = 7 * 24 * time.Hour

// observeHealth sets a condition per component (healthy, or what is wrong and where) and one for
// the certificates, records an Event when one changes, and updates the Cluster's metrics.
func (r *Reconciler) observeHealth(c *v1alpha1.Cluster, status *v1alpha1.ClusterStatus, ready bool, h tenants.Health) {
	for _, comp := range h.Components {
		message := comp.Message
		if message == "" {
			message = fmt.Sprintf("%d of %d Pods Ready, %d restarts", comp.Ready, comp.Desired, comp.Restarts)
		}
		r.setHealthCondition(c, status, componentConditions[comp.Component], comp.Healthy, comp.Reason, message)
	}
	if cert := h.Certificates; cert != nil {
		now := time.Now()
		if r.Now != nil {
			now = r.Now()
		}
		left := cert.NotAfter.Sub(now)
		reason, valid := ReasonCertificatesValid, left > CertificateWarning
		switch {
		case left <= 0:
			reason = ReasonCertificateExpired
		case !valid:
			reason = ReasonCertificateExpiresSoon
		}
		r.setHealthCondition(c, status, v1alpha1.ConditionCertificatesValid, valid, reason,
			fmt.Sprintf("the earliest of %d certificates expires at %s (in %s): Secret %s, %s, %s", cert.Count,
				cert.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Minute), cert.Secret, cert.Key, cert.Subject))
	}
	if s := h.Snapshots; s != nil {
		reason, message := ReasonNoSnapshotYet, "no scheduled etcd snapshot has finished yet"
		if s.LastSuccess != nil {
			status.LastScheduledSnapshot = &metav1.Time{Time: *s.LastSuccess}
			reason, message = ReasonSnapshotSucceeded, "the last scheduled etcd snapshot succeeded at "+s.LastSuccess.UTC().Format(time.RFC3339)
		}
		if s.Failed {
			reason, message = ReasonSnapshotFailed, s.Message
		}
		r.setHealthCondition(c, status, v1alpha1.ConditionSnapshotsHealthy, !s.Failed, reason, message)
	}
	progressing := meta.IsStatusConditionTrue(status.Conditions, v1alpha1.ConditionProgressing)
	r.Metrics.observe(c.Namespace, c.Name, ready, progressing, h)
}

// setHealthCondition sets a health condition and records an Event when its status or reason
// changes: a Warning when it goes wrong, Normal when it recovers.
func (r *Reconciler) setHealthCondition(c *v1alpha1.Cluster, status *v1alpha1.ClusterStatus, kind string, ok bool, reason, message string) {
	var before *metav1.Condition
	if found := meta.FindStatusCondition(status.Conditions, kind); found != nil {
		copied := *found // setCondition changes it in place
		before = &copied
	}
	r.setCondition(c, status, kind, conditionStatus(ok), reason, message)
	if before != nil && before.Status == conditionStatus(ok) && before.Reason == reason {
		return
	}
	if before == nil && ok {
		return // a healthy start says nothing new
	}
	eventType := corev1.EventTypeNormal
	if !ok {
		eventType = corev1.EventTypeWarning
	}
	r.Events.Event(reference(c), eventType, kind+reason, fmt.Sprintf("%s: %s", kind, message))
}

// serving says whether an apiserver of the tenant is available, by its Deployment (whose
// readiness probe is the apiserver's /readyz).
func (r *Reconciler) serving(ctx context.Context, c *v1alpha1.Cluster) (bool, string) {
	d, err := r.Kube.AppsV1().Deployments(c.Namespace).Get(ctx, c.Name+"-apiserver", metav1.GetOptions{})
	if err != nil {
		return false, fmt.Sprintf("apiserver Deployment: %v", err)
	}
	if d.Status.AvailableReplicas == 0 {
		return false, fmt.Sprintf("no apiserver available (0 of %d)", d.Status.Replicas)
	}
	return true, fmt.Sprintf("%d of %d apiservers available", d.Status.AvailableReplicas, d.Status.Replicas)
}

// delete removes the release (whose pre-delete hook takes the final etcd snapshot), then by the
// deletion policy the data uninstall keeps, then the finalizer.
func (r *Reconciler) delete(ctx context.Context, c *v1alpha1.Cluster) (Result, error) {
	if !slices.Contains(c.Finalizers, v1alpha1.Finalizer) {
		return Result{}, nil
	}
	status := &c.Status // c is the caller's own copy, read for this reconcile
	exists, err := hasRelease(ctx, r.Tenants, c)
	if err != nil {
		return Result{}, err
	}
	if exists {
		message := "final etcd snapshot, then uninstall"
		r.setCondition(c, status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonDeleting, message)
		r.Events.Event(reference(c), corev1.EventTypeNormal, ReasonDeleting, message)
		if err := r.writeStatus(ctx, c, status); err != nil {
			return Result{}, err
		}
		end := r.operations.begin(c)
		err := r.Tenants.Uninstall(ctx, c.Namespace, c.Name, tenants.Rollout{Wait: true, Timeout: r.Rollout.Timeout})
		end()
		if err != nil {
			err = fmt.Errorf("%w (the hook Job %s-etcd-snapshot-final has the snapshot's log; to delete without a final snapshot, helm uninstall --no-hooks %s -n %s)",
				err, c.Name, c.Name, c.Namespace)
			r.setCondition(c, status, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonDeleteFailed, err.Error())
			r.Events.Event(reference(c), corev1.EventTypeWarning, ReasonDeleteFailed, err.Error())
			return Result{}, errors.Join(err, r.writeStatus(ctx, c, status))
		}
	}
	if c.Spec.DeletionPolicy.OrDefault() == v1alpha1.DeletionPolicyDelete {
		if err := r.deleteData(ctx, c); err != nil {
			return Result{}, err
		}
	}
	r.Events.Event(reference(c), corev1.EventTypeNormal, "Deleted", "release uninstalled after its final snapshot")
	r.Metrics.forget(c.Namespace, c.Name)
	return Result{}, r.setFinalizers(ctx, c, slices.DeleteFunc(slices.Clone(c.Finalizers), func(f string) bool { return f == v1alpha1.Finalizer }))
}

// deleteData deletes what helm uninstall keeps, but the snapshot volume with the final snapshot:
// the PKI Secrets, etcd's volumes, and hook Jobs a failure left for their logs.
func (r *Reconciler) deleteData(ctx context.Context, c *v1alpha1.Cluster) error {
	fail := func(what string, err error) error {
		return fmt.Errorf("delete the %s of Cluster %s/%s: %w", what, c.Namespace, c.Name, err)
	}
	background := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &background}
	instance := "app.kubernetes.io/instance=" + c.Name

	secrets := r.Kube.CoreV1().Secrets(c.Namespace)
	secretList, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: "taowa.io/release=" + c.Name})
	if err != nil {
		return fail("PKI Secrets", err)
	}
	for _, s := range secretList.Items {
		if err := secrets.Delete(ctx, s.Name, del); ignoreNotFound(err) != nil {
			return fail("PKI Secrets", err)
		}
	}
	claims := r.Kube.CoreV1().PersistentVolumeClaims(c.Namespace)
	claimList, err := claims.List(ctx, metav1.ListOptions{LabelSelector: instance + ",app.kubernetes.io/component=etcd"})
	if err != nil {
		return fail("etcd volumes", err)
	}
	for _, p := range claimList.Items {
		if err := claims.Delete(ctx, p.Name, del); ignoreNotFound(err) != nil {
			return fail("etcd volumes", err)
		}
	}
	jobs := r.Kube.BatchV1().Jobs(c.Namespace)
	jobList, err := jobs.List(ctx, metav1.ListOptions{LabelSelector: instance})
	if err != nil {
		return fail("hook Jobs", err)
	}
	for _, j := range jobList.Items {
		if err := jobs.Delete(ctx, j.Name, del); ignoreNotFound(err) != nil {
			return fail("hook Jobs", err)
		}
	}
	return nil
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (r *Reconciler) setCondition(c *v1alpha1.Cluster, status *v1alpha1.ClusterStatus, kind string, s metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: kind, Status: s, Reason: reason, Message: message, ObservedGeneration: c.Generation,
	})
}

func conditionStatus(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

// writeStatus replaces the Cluster's status through the status subresource, and takes the
// Cluster's new resourceVersion.
func (r *Reconciler) writeStatus(ctx context.Context, c *v1alpha1.Cluster, status *v1alpha1.ClusterStatus) error {
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	updated, err := r.Clusters.Namespace(c.Namespace).Patch(ctx, c.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("status of Cluster %s/%s: %w", c.Namespace, c.Name, err)
	}
	// The finalizer is written against this version.
	c.ResourceVersion = updated.GetResourceVersion()
	return nil
}

// setFinalizers writes the Cluster's finalizers, if it has not changed since it was read.
func (r *Reconciler) setFinalizers(ctx context.Context, c *v1alpha1.Cluster, finalizers []string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": finalizers, "resourceVersion": c.ResourceVersion}})
	if err != nil {
		return err
	}
	if _, err := r.Clusters.Namespace(c.Namespace).Patch(ctx, c.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("finalizers of Cluster %s/%s: %w", c.Namespace, c.Name, err)
	}
	return nil
}

func reference(c *v1alpha1.Cluster) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.Kind,
		Namespace: c.Namespace, Name: c.Name, UID: c.UID, ResourceVersion: c.ResourceVersion,
	}
}
