//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/hack/metacluster"
	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/release/api/v1alpha1"
	"github.com/taowa/taowa/release/tenants"
)

// TestOperator installs charts/taowa-operator and drives one tenant through a Cluster object:
// created at 1.35, Ready with its endpoint in status; moved to 1.37, which the operator walks
// through 1.36; a change whose apiserver never gets ready, rolled back and reported; deleted,
// after a final snapshot, leaving only the snapshot volume.
func TestOperator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	root := repoRoot()
	h := helmFor(t, 3)
	_, err := clusterClient(t).List(ctx, metav1.ListOptions{Limit: 1})
	require.True(t, apierrors.IsNotFound(err),
		"the meta cluster serves taowa.io Clusters already (make demo's operator?): the test installs its own operator and CRD and removes them; run it on a cluster without (make down first): %v", err)
	operatorNS := testNamespace(ctx, t, "e2e-operator")
	ns := testNamespace(ctx, t, "e2e-cluster")
	clusters := clusterClient(t).Namespace(ns)
	t.Cleanup(func() { cleanUpOperator(t, h, operatorNS, ns) })

	// A Helm operation of the operator that takes longer than this fails and is rolled back.
	h.run(ctx, t, "install", "taowa-operator", filepath.Join(root, "charts", "taowa-operator"), "-n", operatorNS,
		"--set", "watchNamespace="+ns, "--set", "timeout=60s", "--set", "resync=10s", "--wait", "--timeout", "2m")

	tn := tenant{release: "tc", namespace: ns, version: "1.35.4"}
	kubectlStdin(t, []byte(`apiVersion: taowa.io/v1alpha1
kind: Cluster
metadata: {name: tc}
spec:
  kubernetesVersion: "1.35.4"
  profile: small
  master:
    apiserver: {replicas: 1}
  deletionPolicy: Delete
`), "apply", "-n", ns, "-f", "-")

	// A second Cluster beside it, whose certificates live 100 hours and are never renewed, and
	// whose snapshots and PKI go to the object store.
	store, _ := objectStoreFor(ctx, t, ns)
	kubectlStdin(t, []byte(fmt.Sprintf(`apiVersion: taowa.io/v1alpha1
kind: Cluster
metadata: {name: tc-certs}
spec:
  kubernetesVersion: "1.37.2"
  profile: small
  certificates: {validity: 100h, renewBefore: 0s}
  etcd:
    snapshots:
      objectStore: {endpoint: %q, bucket: %s, insecure: true, credentialsSecret: %s, encryptionKeySecret: %s}
  deletionPolicy: Delete
`, store.Endpoint, store.Bucket, objectStoreSecret, snapshotKeySecret)), "apply", "-n", ns, "-f", "-")

	c := waitCluster(ctx, t, clusters, "Ready at 1.35.4", func(c *v1alpha1.Cluster) bool {
		return c.Status.KubernetesVersion == "1.35.4" && conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	assertSnapshotFailureReported(ctx, t, clusters, store, operatorNS, ns)
	tcCertsCA := assertMetricsOfTwoClusters(ctx, t, clusters, operatorNS, ns)
	assert.Equal(t, fmt.Sprintf("https://tc-apiserver.%s.svc:6443", ns), c.Status.Endpoint)
	assert.Equal(t, "tc-admin-kubeconfig", c.Status.KubeconfigSecret)
	assert.Contains(t, c.Finalizers, v1alpha1.Finalizer)
	requireServes(ctx, t, tn, "1.35.4")
	table := kubectl(t, "get", "clusters", "-n", ns)
	assert.Regexp(t, `tc\s+1\.35\.4\s+1\.35\.4\s+True\s+Applied\s+1\s+https://tc-apiserver`, table)
	writeObjects(ctx, t, tenantClient(ctx, t, tn))
	// The small profile sized the masters; an unknown profile is refused by the CRD.
	apiserver, err := env.client.AppsV1().Deployments(ns).Get(ctx, "tc-apiserver", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "224Mi", apiserver.Spec.Template.Spec.Containers[0].Resources.Requests.Memory().String(), "the small profile's apiserver request")
	assert.Contains(t, apiserver.Spec.Template.Spec.Containers[0].Args, "--watch-cache=false", "the small profile's apiserver flags")
	scheduler, err := env.client.AppsV1().Deployments(ns).Get(ctx, "tc-scheduler", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, scheduler.Spec.Template.Spec.Containers[0].Args, "--leader-elect-retry-period=15s", "the small profile's leader election")
	refused, err := kubectlStdinOutput(ctx, []byte("apiVersion: taowa.io/v1alpha1\nkind: Cluster\nmetadata: {name: tc}\nspec: {kubernetesVersion: \"1.35.4\", profile: tiny}\n"),
		"apply", "--dry-run=server", "-n", ns, "-f", "-")
	require.Error(t, err, "a Cluster of profile tiny: %s", refused)
	assert.Contains(t, refused, `spec.profile: Unsupported value: "tiny"`)

	// Two minors at once, through the CLI, which sets the Cluster's spec and follows the
	// operator: one helm upgrade per minor, and status follows.
	cli := taowaCLI{namespace: ns}
	var upgrade struct {
		From, To string
		Steps    []struct {
			From, To string
			Revision int
		}
	}
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "upgrade", "tc", "--to", "1.37.2", "-o", "json")), &upgrade))
	assert.Equal(t, "1.35.4", upgrade.From)
	require.Len(t, upgrade.Steps, 2, "steps the CLI saw in the Cluster's status: %+v", upgrade.Steps)
	assert.Equal(t, []string{"1.36.3", "1.37.2"}, []string{upgrade.Steps[0].To, upgrade.Steps[1].To})
	assert.Equal(t, []string{"1.35.4", "1.36.3", "1.37.2"}, releaseVersions(ctx, t, h, tn), "helm history")
	c = waitCluster(ctx, t, clusters, "the walk to 1.37.2 done", func(c *v1alpha1.Cluster) bool {
		return c.Status.KubernetesVersion == "1.37.2" && c.Status.ObservedGeneration == c.Generation &&
			conditionIs(c, v1alpha1.ConditionProgressing, metav1.ConditionFalse) && conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	assert.Equal(t, 3, c.Status.Revision)
	metrics := kubectl(t, "get", "--raw", fmt.Sprintf("/api/v1/namespaces/%s/services/taowa-operator-metrics:http/proxy/metrics", operatorNS))
	assert.Regexp(t, `taowa_operator_reconciles_total\{result="success"\} [1-9]`, metrics, "the operator's metrics")
	// The release is Helm's: Helm 4 reads what the operator's Helm 3 SDK wrote.
	assert.Contains(t, helmFor(t, 4).run(ctx, t, "history", "tc", "-n", ns), "Upgrade complete")
	requireServes(ctx, t, tn, "1.37.2")
	waitComponentsAt(ctx, t, ns, "1.37.2")
	assertObjects(ctx, t, tn)

	// The operator killed in the middle of an upgrade (SIGKILL: nothing of it runs on) leaves the
	// release pending-upgrade; the operator that leads next rolls it back and applies the spec
	// again, by itself.
	patchCluster(ctx, t, clusters, `{"spec":{"master":{"scheduler":{"extraArgs":{"kube-api-burst":"150"}}}}}`)
	waitUntil(ctx, t, "the operator's helm upgrade under way", func(ctx context.Context) (bool, error) {
		statuses := releaseStatuses(ctx, t, h, tn)
		return statuses[len(statuses)-1] == "pending-upgrade", nil
	})
	out, err := exec.CommandContext(ctx, env.kubectl, "--kubeconfig", env.kubeconfig, "-n", operatorNS, "delete", "pod",
		"-l", "app.kubernetes.io/instance=taowa-operator", "--grace-period=0", "--force").CombinedOutput()
	require.NoError(t, err, "%s", out)
	c = waitCluster(ctx, t, clusters, "the next operator recovered the upgrade and applied the spec", func(c *v1alpha1.Cluster) bool {
		return c.Status.ObservedGeneration == c.Generation && c.Status.Revision == 6 &&
			conditionIs(c, v1alpha1.ConditionProgressing, metav1.ConditionFalse) && conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	history := releaseHistory(ctx, t, h, tn)
	require.Len(t, history, 6)
	assert.Equal(t, "failed", history[3]["status"], "the abandoned upgrade")
	assert.Contains(t, history[3]["description"], "abandoned")
	assert.Contains(t, history[4]["description"], "Rollback to 3")
	assert.Equal(t, "deployed", history[5]["status"])
	scheduler, err = env.client.AppsV1().Deployments(ns).Get(ctx, "tc-scheduler", metav1.GetOptions{})
	require.NoError(t, err)
	container := scheduler.Spec.Template.Spec.Containers[0]
	assert.Contains(t, strings.Join(append(container.Command, container.Args...), " "), "--kube-api-burst=150")
	requireServes(ctx, t, tn, "1.37.2")

	// etcd's member count is fixed: the API server refuses the change (the CRD's validation rule).
	out, err = exec.CommandContext(ctx, env.kubectl, "--kubeconfig", env.kubeconfig, "-n", ns, "patch", "cluster", "tc", "--type", "merge",
		"-p", `{"spec":{"etcd":{"replicas":3}}}`).CombinedOutput()
	require.Error(t, err, "a change of etcd.replicas must be refused:\n%s", out)
	assert.Contains(t, string(out), "etcd.replicas cannot change once the Cluster exists")

	// An apiserver flag value it cannot parse: the rollout never gets ready, Helm's atomic
	// upgrade rolls back, the Cluster says so and the operator does not retry it.
	patchCluster(ctx, t, clusters, `{"spec":{"master":{"apiserver":{"extraArgs":{"min-request-timeout":"not-a-number"}}}}}`)
	c = waitCluster(ctx, t, clusters, "the failed change reported", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionDegraded, metav1.ConditionTrue)
	})
	degraded := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionDegraded)
	assert.Equal(t, "UpgradeFailed", degraded.Reason)
	assert.Contains(t, degraded.Message, "rolled back")
	statuses := releaseStatuses(ctx, t, h, tn)
	assert.Equal(t, []string{"superseded", "superseded", "superseded", "failed", "superseded", "superseded", "failed", "deployed"}, statuses,
		"helm history after the rollback")
	requireServes(ctx, t, tn, "1.37.2")
	time.Sleep(15 * time.Second) // a resync or two: a failed generation is not tried again
	assert.Len(t, releaseStatuses(ctx, t, h, tn), 8, "the operator retried a failed change without a new spec")

	patchCluster(ctx, t, clusters, `{"spec":{"master":{"apiserver":{"extraArgs":null}}}}`)
	waitCluster(ctx, t, clusters, "the fixed spec applied", func(c *v1alpha1.Cluster) bool {
		return c.Status.ObservedGeneration == c.Generation && conditionIs(c, v1alpha1.ConditionDegraded, metav1.ConditionFalse) &&
			conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	// The spec is that of the deployed revision again (the rollback's): nothing to upgrade.
	assert.Len(t, releaseStatuses(ctx, t, h, tn), 8)

	assertHealthFollowsACrash(ctx, t, clusters, cli, operatorNS, ns)
	hibernateCluster(ctx, t, clusters, tn)

	// Deletion (the CLI deletes the Cluster and waits): the final snapshot, then nothing but the
	// snapshot volume that holds it.
	cli.must(ctx, t, "delete", "tc", "--wait")
	_, err = clusters.Get(ctx, "tc", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "the Cluster is still there after taowa delete --wait: %v", err)
	snapshots := listSnapshots(ctx, t, tn)
	assert.True(t, slices.ContainsFunc(snapshots, func(s string) bool { return strings.HasPrefix(s, "final-") }),
		"a final snapshot in %v", snapshots)
	waitUntil(ctx, t, "the Cluster tc-certs is gone", func(ctx context.Context) (bool, error) {
		_, err := clusters.Get(ctx, "tc-certs", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	assertClusterRestored(ctx, t, clusters, store, ns, tcCertsCA)
	waitUntil(ctx, t, "the tenant's Pods are gone", func(ctx context.Context) (bool, error) {
		pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=tc"})
		return err == nil && len(pods.Items) == 0, err
	})
	secrets, err := env.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, s := range secrets.Items {
		assert.Contains(t, []string{objectStoreSecret, snapshotKeySecret}, s.Name, "Secrets left: PKI, kubeconfigs or Helm's release records")
	}
	claims, err := env.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var claimNames []string
	for _, c := range claims.Items {
		claimNames = append(claimNames, c.Name)
	}
	assert.ElementsMatch(t, []string{"tc-etcd-snapshots", "tc-certs-etcd-snapshots", "tc-restored-etcd-snapshots"}, claimNames, "volume claims left")
	jobs, err := env.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, jobs.Items, "hook Jobs left")
}

// hibernateCluster puts the Cluster's tenant to sleep through its spec (its Pods go, Ready says
// Hibernated) and wakes it the same way, to Ready and serving with its objects.
func hibernateCluster(ctx context.Context, t *testing.T, clusters dynamic.ResourceInterface, tn tenant) {
	t.Helper()
	// The objects written before the upgrades are there: they must be after the wake too.
	assertObjects(ctx, t, tn)
	patchCluster(ctx, t, clusters, `{"spec":{"hibernated":true}}`)
	waitCluster(ctx, t, clusters, "Ready says Hibernated", func(c *v1alpha1.Cluster) bool {
		ready := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionReady)
		return ready != nil && ready.ObservedGeneration == c.Generation && ready.Reason == v1alpha1.ReasonHibernated
	})
	pods, err := env.client.CoreV1().Pods(tn.namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + tn.release + ",app.kubernetes.io/component in (etcd,kube-apiserver,kube-controller-manager,kube-scheduler)"})
	require.NoError(t, err)
	assert.Empty(t, pods.Items, "component Pods of the hibernated Cluster")

	start := time.Now()
	patchCluster(ctx, t, clusters, `{"spec":{"hibernated":false}}`)
	waitCluster(ctx, t, clusters, "awake and Ready", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	t.Logf("the Cluster was Ready %.1fs after spec.hibernated became false", time.Since(start).Seconds())
	requireServes(ctx, t, tn, "1.37.2")
	assertObjects(ctx, t, tn)
}

// assertHealthFollowsACrash makes the apiserver crash outside the operator (a flag it does not
// know, patched into its Deployment; the old replica keeps serving): the Cluster's condition names
// the component, the reason and the error, an Event, the operator's metrics and taowa status
// --health say so; undone, all clear.
func assertHealthFollowsACrash(ctx context.Context, t *testing.T, clusters dynamic.ResourceInterface, cli taowaCLI, operatorNS, ns string) {
	t.Helper()
	start := time.Now()
	watch, stopWatch := watchTaowaEvents(ctx, t, cli, "tc")
	kubectl(t, "-n", ns, "patch", "deployment", "tc-apiserver", "--type", "json", "-p",
		`[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--no-such-flag"}]`)
	c := waitCluster(ctx, t, clusters, "the crashing apiserver reported", func(c *v1alpha1.Cluster) bool {
		cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionAPIServerHealthy)
		return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == "CrashLoopBackOff"
	})
	t.Logf("the Cluster reported the crash %.1fs after the patch", time.Since(start).Seconds())
	cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionAPIServerHealthy)
	assert.Contains(t, cond.Message, "unknown flag: --no-such-flag", "the crash's own message")
	assert.True(t, conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue), "the old apiserver still serves")
	assert.True(t, conditionIs(c, v1alpha1.ConditionEtcdHealthy, metav1.ConditionTrue), "etcd is not the one crashing")

	events := kubectl(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.kind=Cluster,involvedObject.name=tc",
		"-o", "custom-columns=TYPE:.type,REASON:.reason")
	assert.Regexp(t, `Warning\s+APIServerHealthyCrashLoopBackOff`, events)
	metrics := kubectl(t, "get", "--raw", fmt.Sprintf("/api/v1/namespaces/%s/services/taowa-operator-metrics:http/proxy/metrics", operatorNS))
	series := fmt.Sprintf(`{cluster="tc",component="kube-apiserver",namespace="%s"}`, ns)
	assert.Contains(t, metrics, "taowa_cluster_component_healthy"+series+" 0")
	assert.Regexp(t, `taowa_cluster_component_restarts`+regexp.QuoteMeta(series)+` [1-9]`, metrics)
	assert.Regexp(t, fmt.Sprintf(`taowa_cluster_certificate_expiry_timestamp_seconds\{cluster="tc",namespace="%s"\} \d`, ns), metrics)
	out, err := cli.run(ctx, "status", "tc", "--health")
	require.Error(t, err, "taowa status --health of a crashing apiserver: %s", out)
	assert.Regexp(t, `kube-apiserver\s+false\s+1/1\s+\d+\s+CrashLoopBackOff`, out)

	// taowa events --watch printed the crash as it happened: the kubelet's back-off of the
	// container and the operator's Event on the Cluster.
	isCrash := func(e tenants.Event) bool {
		return e.Source == tenants.SourceEvent && e.Reason == "BackOff" && strings.HasPrefix(e.Object, "pod/tc-apiserver-")
	}
	isReported := func(e tenants.Event) bool {
		return e.Object == "cluster/tc" && e.Reason == "APIServerHealthyCrashLoopBackOff"
	}
	var seen []tenants.Event
	for !slices.ContainsFunc(seen, isCrash) || !slices.ContainsFunc(seen, isReported) {
		select {
		case e, ok := <-watch:
			require.True(t, ok, "taowa events --watch ended; it printed %+v", seen)
			if !e.Time.Before(start.Add(-time.Second)) {
				seen = append(seen, e)
			}
		case <-ctx.Done():
			t.Fatalf("taowa events --watch printed %+v", seen)
		}
	}
	t.Logf("taowa events --watch printed the crash %.1fs after the patch", time.Since(start).Seconds())
	require.NoError(t, stopWatch(), "taowa events --watch ends with 0 when interrupted")
	// Without --watch: the same, Helm's revisions and hook runs beside them, and nothing of the
	// Cluster tc-certs, whose objects' names begin with tc's.
	var listed []tenants.Event
	require.NoError(t, json.Unmarshal([]byte(cli.must(ctx, t, "events", "tc", "-o", "json")), &listed))
	assert.True(t, slices.ContainsFunc(listed, isCrash) && slices.ContainsFunc(listed, isReported), "taowa events: %+v", listed)
	for _, want := range []func(tenants.Event) bool{
		func(e tenants.Event) bool {
			return e.Source == tenants.SourceHelm && e.Reason == "Install" && e.Object == "release/tc"
		},
		func(e tenants.Event) bool {
			return e.Source == tenants.SourceHelm && e.Reason == "Rollback" && e.Type == "Normal"
		},
		func(e tenants.Event) bool { return e.Source == tenants.SourceHook && e.Reason == "HookSucceeded" },
	} {
		assert.True(t, slices.ContainsFunc(listed, want), "taowa events: %+v", listed)
	}
	for _, e := range listed {
		assert.NotContains(t, e.Object, "tc-certs", "taowa events tc shows an object of tc-certs")
	}

	kubectl(t, "-n", ns, "rollout", "undo", "deployment/tc-apiserver")
	waitCluster(ctx, t, clusters, "the apiserver healthy again", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionAPIServerHealthy, metav1.ConditionTrue)
	})
	events = kubectl(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.kind=Cluster,involvedObject.name=tc",
		"-o", "custom-columns=TYPE:.type,REASON:.reason")
	assert.Regexp(t, `Normal\s+APIServerHealthyHealthy`, events)
	cli.must(ctx, t, "status", "tc", "--health")
}

// assertSnapshotFailureReported: tc-certs' scheduled snapshot fails (the store refuses the
// credentials its Secret holds now): the Cluster says so in SnapshotsHealthy with the hook's
// error, an Event and a metric. With the Secret put right, the next one succeeds, is in the
// store, and the condition clears.
func assertSnapshotFailureReported(ctx context.Context, t *testing.T, clusters dynamic.ResourceInterface, store metacluster.ObjectStore, operatorNS, ns string) {
	t.Helper()
	waitClusterNamed(ctx, t, clusters, "tc-certs", "tc-certs Ready", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	setStoreSecretKey(ctx, t, ns, "not-"+store.SecretKey)
	kubectl(t, "-n", ns, "create", "job", "--from=cronjob/tc-certs-etcd-snapshot", "e2e-snapshot-refused")
	c := waitClusterNamed(ctx, t, clusters, "tc-certs", "the failed snapshot reported", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionSnapshotsHealthy, metav1.ConditionFalse)
	})
	setStoreSecretKey(ctx, t, ns, store.SecretKey)
	cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionSnapshotsHealthy)
	assert.Equal(t, "SnapshotFailed", cond.Reason)
	assert.Regexp(t, `Job e2e-snapshot-refused failed at \S+ \(PodFailurePolicy\)`, cond.Message, "failed at once: a refusal is not retried")
	assert.Contains(t, cond.Message, "access denied to bucket "+store.Bucket+" at http://"+store.Endpoint+": check the access key and secret")
	events := kubectl(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.kind=Cluster,involvedObject.name=tc-certs",
		"-o", "custom-columns=TYPE:.type,REASON:.reason")
	assert.Regexp(t, `Warning\s+SnapshotsHealthySnapshotFailed`, events)
	metrics := kubectl(t, "get", "--raw", fmt.Sprintf("/api/v1/namespaces/%s/services/taowa-operator-metrics:http/proxy/metrics", operatorNS))
	assert.Contains(t, metrics, fmt.Sprintf(`taowa_cluster_snapshot_failed{cluster="tc-certs",namespace="%s"} 1`, ns))

	kubectl(t, "-n", ns, "create", "job", "--from=cronjob/tc-certs-etcd-snapshot", "e2e-snapshot-stored")
	c = waitClusterNamed(ctx, t, clusters, "tc-certs", "the stored snapshot reported", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionSnapshotsHealthy, metav1.ConditionTrue) && c.Status.LastScheduledSnapshot != nil
	})
	assert.Equal(t, "Succeeded", meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionSnapshotsHealthy).Reason)
	stored, err := storeClient(t, store, "", nil).List(ctx, ns+"/tc-certs", "scheduled")
	require.NoError(t, err)
	assert.Len(t, stored, 1, "the scheduled snapshot in the store")
	wide := kubectl(t, "-n", ns, "get", "clusters", "tc-certs", "-o", "wide")
	assert.Regexp(t, `(?m)^NAME\s.*\sLAST-SNAPSHOT(\s|$)`, wide, "kubectl get -o wide shows the last scheduled snapshot")
	assert.NotContains(t, wide, "<none>")
	last := c.Status.LastScheduledSnapshot.Time

	// The store unreachable: the Job fails once its retries are spent, reported the same way;
	// nothing reaches the store, and the next run, with the store back, clears the condition.
	setObjectStoreReplicas(t, 0)
	kubectl(t, "-n", ns, "create", "job", "--from=cronjob/tc-certs-etcd-snapshot", "e2e-snapshot-unreachable")
	c = waitClusterNamed(ctx, t, clusters, "tc-certs", "the unreachable store reported", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionSnapshotsHealthy, metav1.ConditionFalse)
	})
	setObjectStoreReplicas(t, 1)
	cond = meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionSnapshotsHealthy)
	assert.Regexp(t, `Job e2e-snapshot-unreachable failed at \S+ \(BackoffLimitExceeded\)`, cond.Message, "retried, then failed")
	assert.Contains(t, cond.Message, "object store http://"+store.Endpoint+" unreachable")
	events = kubectl(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.kind=Cluster,involvedObject.name=tc-certs,reason=SnapshotsHealthySnapshotFailed",
		"-o", "custom-columns=TYPE:.type,MESSAGE:.message")
	assert.Regexp(t, `Warning\s+SnapshotsHealthy: Job e2e-snapshot-unreachable failed`, events)
	stored, err = storeClient(t, store, "", nil).List(ctx, ns+"/tc-certs", "scheduled")
	require.NoError(t, err)
	assert.Len(t, stored, 1, "nothing stored while the store was away")

	kubectl(t, "-n", ns, "create", "job", "--from=cronjob/tc-certs-etcd-snapshot", "e2e-snapshot-back")
	c = waitClusterNamed(ctx, t, clusters, "tc-certs", "the store's return reported", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionSnapshotsHealthy, metav1.ConditionTrue)
	})
	assert.True(t, c.Status.LastScheduledSnapshot.After(last), "lastScheduledSnapshot moved on: %s, was %s", c.Status.LastScheduledSnapshot, last)
}

// assertClusterRestored brings the deleted tc-certs back as a new Cluster, tc-restored, from its
// final snapshot in the object store: Ready, its etcd restored from that snapshot, its CA
// tc-certs' (caPEM, read before the deletion). Then it goes.
func assertClusterRestored(ctx context.Context, t *testing.T, clusters dynamic.ResourceInterface, store metacluster.ObjectStore, ns string, caPEM []byte) {
	t.Helper()
	final, err := storeClient(t, store, "", nil).List(ctx, ns+"/tc-certs", "final")
	require.NoError(t, err)
	require.Len(t, final, 1, "tc-certs' final snapshot in the store")
	apply := func(snapshot string) {
		kubectlStdin(t, []byte(fmt.Sprintf(`apiVersion: taowa.io/v1alpha1
kind: Cluster
metadata: {name: tc-restored}
spec:
  kubernetesVersion: "1.37.2"
  profile: small
  etcd:
    restore: {from: %s/tc-certs, snapshot: %s}
    snapshots:
      objectStore: {endpoint: %q, bucket: %s, insecure: true, credentialsSecret: %s, encryptionKeySecret: %s}
  deletionPolicy: Delete
`, ns, snapshot, store.Endpoint, store.Bucket, objectStoreSecret, snapshotKeySecret)), "apply", "-n", ns, "-f", "-")
	}
	// A snapshot that does not exist: refused, naming what does, and nothing installed.
	apply("final-20200101T000000Z-rev1.db")
	c := waitClusterNamed(ctx, t, clusters, "tc-restored", "the missing snapshot refused", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionDegraded, metav1.ConditionTrue)
	})
	degraded := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionDegraded)
	assert.Equal(t, "Refused", degraded.Reason)
	assert.Contains(t, degraded.Message, "no snapshot final-20200101T000000Z-rev1.db; the object store holds: ")
	assert.Contains(t, degraded.Message, final[0].Name)
	releases, err := env.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=tc-restored"})
	require.NoError(t, err)
	assert.Empty(t, releases.Items, "a refused restore installs nothing")
	roots, err := env.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: pki.LabelRelease + "=tc-restored"})
	require.NoError(t, err)
	assert.Empty(t, roots.Items, "nor writes a PKI")

	apply(final[0].Name)
	waitClusterNamed(ctx, t, clusters, "tc-restored", "tc-restored Ready", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	assert.Contains(t, kubectl(t, "-n", ns, "logs", "tc-restored-etcd-0", "-c", "etcd-restore"), "restored from "+final[0].Name)
	ca, err := env.client.CoreV1().Secrets(ns).Get(ctx, "tc-restored-ca", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, string(caPEM), string(ca.Data["tls.crt"]), "tc-certs' CA, restored")
	kubectl(t, "delete", "cluster", "tc-restored", "-n", ns, "--wait=false")
	waitUntil(ctx, t, "the Cluster tc-restored is gone", func(ctx context.Context) (bool, error) {
		_, err := clusters.Get(ctx, "tc-restored", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	// Its etcd volume, deleted by the Delete policy, goes once its Pod has.
	waitUntil(ctx, t, "tc-restored's etcd volume is gone", func(ctx context.Context) (bool, error) {
		claims, err := env.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{
			LabelSelector: "app.kubernetes.io/instance=tc-restored,app.kubernetes.io/component=etcd"})
		return err == nil && len(claims.Items) == 0, err
	})
}

// assertMetricsOfTwoClusters: tc-certs' certificates expire within the operator's warning (its
// condition and metric say so), and the operator's /metrics, parsed, has every per-Cluster series
// for both Clusters. Then tc-certs goes.
func assertMetricsOfTwoClusters(ctx context.Context, t *testing.T, clusters dynamic.ResourceInterface, operatorNS, ns string) (tcCertsCA []byte) {
	t.Helper()
	c := waitClusterNamed(ctx, t, clusters, "tc-certs", "tc-certs Ready, its certificates reported", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue) && conditionIs(c, v1alpha1.ConditionCertificatesValid, metav1.ConditionFalse)
	})
	cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionCertificatesValid)
	assert.Equal(t, "ExpiresSoon", cond.Reason)
	assert.Regexp(t, `expires at \S+ \(in (99|100)h\d+m0s\): Secret tc-certs-`, cond.Message)
	tc := waitCluster(ctx, t, clusters, "tc's certificates reported valid", func(c *v1alpha1.Cluster) bool {
		return conditionIs(c, v1alpha1.ConditionCertificatesValid, metav1.ConditionTrue)
	})
	assert.Equal(t, "Valid", meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.ConditionCertificatesValid).Reason)

	components := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
	var families map[string]*dto.MetricFamily
	waitUntil(ctx, t, "every series of both Clusters in the operator's metrics", func(ctx context.Context) (bool, error) {
		raw, err := kubectlStdinOutput(ctx, nil, "get", "--raw", fmt.Sprintf("/api/v1/namespaces/%s/services/taowa-operator-metrics:http/proxy/metrics", operatorNS))
		if err != nil {
			return false, fmt.Errorf("%v: %s", err, raw)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		if families, err = parser.TextToMetricFamilies(strings.NewReader(raw)); err != nil {
			return false, err
		}
		for _, name := range []string{"taowa_cluster_ready", "taowa_cluster_upgrading", "taowa_cluster_certificate_expiry_timestamp_seconds",
			"taowa_cluster_etcd_database_size_bytes", "taowa_cluster_etcd_database_quota_bytes", "taowa_cluster_etcd_alarms"} {
			for _, cluster := range []string{"tc", "tc-certs"} {
				if _, ok := sample(families, name, map[string]string{"namespace": ns, "cluster": cluster}); !ok {
					return false, fmt.Errorf("no %s of %s", name, cluster)
				}
			}
		}
		for _, name := range []string{"taowa_cluster_component_healthy", "taowa_cluster_component_restarts"} {
			for _, cluster := range []string{"tc", "tc-certs"} {
				for _, component := range components {
					if _, ok := sample(families, name, map[string]string{"namespace": ns, "cluster": cluster, "component": component}); !ok {
						return false, fmt.Errorf("no %s of %s %s", name, cluster, component)
					}
				}
			}
		}
		return true, nil
	})
	for _, cluster := range []string{"tc", "tc-certs"} {
		labels := map[string]string{"namespace": ns, "cluster": cluster}
		ready, _ := sample(families, "taowa_cluster_ready", labels)
		assert.Equal(t, 1.0, ready, "%s ready", cluster)
		size, _ := sample(families, "taowa_cluster_etcd_database_size_bytes", labels)
		assert.Positive(t, size, "%s etcd size", cluster)
		quota, _ := sample(families, "taowa_cluster_etcd_database_quota_bytes", labels)
		assert.Equal(t, float64(2<<30), quota, "%s etcd quota", cluster)
		for _, component := range components {
			healthy, _ := sample(families, "taowa_cluster_component_healthy", map[string]string{"namespace": ns, "cluster": cluster, "component": component})
			assert.Equal(t, 1.0, healthy, "%s %s healthy", cluster, component)
		}
	}
	expiry, _ := sample(families, "taowa_cluster_certificate_expiry_timestamp_seconds", map[string]string{"namespace": ns, "cluster": "tc-certs"})
	assert.InDelta(t, float64(time.Now().Add(100*time.Hour).Unix()), expiry, float64(15*60), "tc-certs' earliest certificate expires in 100 hours")
	expiry, _ = sample(families, "taowa_cluster_certificate_expiry_timestamp_seconds", map[string]string{"namespace": ns, "cluster": "tc"})
	assert.Greater(t, expiry, float64(time.Now().Add(300*24*time.Hour).Unix()), "tc's earliest certificate expires in a year")

	ca, err := env.client.CoreV1().Secrets(ns).Get(ctx, "tc-certs-ca", metav1.GetOptions{})
	require.NoError(t, err)
	kubectl(t, "delete", "cluster", "tc-certs", "-n", ns, "--wait=false")
	return ca.Data["tls.crt"]
}

// sample is the value of the series of family name with the given labels (and maybe others).
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		matches := true
		for k, v := range labels {
			matches = matches && have[k] == v
		}
		if matches {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// watchTaowaEvents runs taowa events name --watch -o json and sends what it prints; stop
// interrupts it (as Ctrl-C does) and returns how it ended.
func watchTaowaEvents(ctx context.Context, t *testing.T, cli taowaCLI, name string) (<-chan tenants.Event, func() error) {
	t.Helper()
	root := repoRoot()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "taowa"), "--chart", filepath.Join(root, "charts", "tenant-master"),
		"-n", cli.namespace, "events", name, "--watch", "-o", "json")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig, "HELM_CACHE_HOME="+os.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	events := make(chan tenants.Event, 1000)
	go func() {
		defer close(events)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			var e tenants.Event
			if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
				t.Errorf("taowa events --watch -o json printed %q: %v", lines.Text(), err)
				continue
			}
			events <- e
		}
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return err
		}
		for range events { // to the end of its output
		}
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("%w: %s", err, stderr.String())
		}
		return nil
	}
	t.Cleanup(func() { _ = stop() })
	return events, stop
}

func clusterClient(t testing.TB) dynamic.NamespaceableResourceInterface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	require.NoError(t, err)
	client, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return client.Resource(v1alpha1.Resource)
}

// waitCluster polls the Cluster tc until done says so, and returns it.
func waitCluster(ctx context.Context, t testing.TB, clusters dynamic.ResourceInterface, what string, done func(*v1alpha1.Cluster) bool) *v1alpha1.Cluster {
	return waitClusterNamed(ctx, t, clusters, "tc", what, done)
}

// waitClusterNamed polls the Cluster name until done says so, and returns it.
func waitClusterNamed(ctx context.Context, t testing.TB, clusters dynamic.ResourceInterface, name, what string, done func(*v1alpha1.Cluster) bool) *v1alpha1.Cluster {
	t.Helper()
	var c v1alpha1.Cluster
	waitUntil(ctx, t, what, func(ctx context.Context) (bool, error) {
		u, err := clusters.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c = v1alpha1.Cluster{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &c); err != nil {
			return false, err
		}
		if done(&c) {
			return true, nil
		}
		return false, fmt.Errorf("status %+v", c.Status)
	})
	return &c
}

func conditionIs(c *v1alpha1.Cluster, kind string, status metav1.ConditionStatus) bool {
	cond := meta.FindStatusCondition(c.Status.Conditions, kind)
	return cond != nil && cond.Status == status && cond.ObservedGeneration == c.Generation
}

func patchCluster(ctx context.Context, t *testing.T, clusters dynamic.ResourceInterface, patch string) {
	t.Helper()
	_, err := clusters.Patch(ctx, "tc", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
}

func releaseHistory(ctx context.Context, t *testing.T, h helm, tn tenant) []map[string]any {
	t.Helper()
	var history []map[string]any
	require.NoError(t, json.Unmarshal([]byte(h.run(ctx, t, "history", tn.release, "-n", tn.namespace, "-o", "json")), &history))
	return history
}

// releaseVersions is the Kubernetes version of each revision (Helm's app_version is the chart's).
func releaseVersions(ctx context.Context, t *testing.T, h helm, tn tenant) []string {
	t.Helper()
	var versions []string
	for _, r := range releaseHistory(ctx, t, h, tn) {
		values := h.run(ctx, t, "get", "values", tn.release, "-n", tn.namespace, "--revision", fmt.Sprint(r["revision"]), "-o", "json")
		var v struct{ KubernetesVersion string }
		require.NoError(t, json.Unmarshal([]byte(values), &v))
		versions = append(versions, v.KubernetesVersion)
	}
	return versions
}

func releaseStatuses(ctx context.Context, t *testing.T, h helm, tn tenant) []string {
	t.Helper()
	var statuses []string
	for _, r := range releaseHistory(ctx, t, h, tn) {
		statuses = append(statuses, fmt.Sprint(r["status"]))
	}
	return statuses
}

// cleanUpOperator prints the operator's log when the test failed, then removes the operator and
// its CRD, releasing any Cluster a failure left behind with its finalizer.
func cleanUpOperator(t testing.TB, h helm, operatorNS, ns string) {
	ctx := context.Background()
	if t.Failed() {
		out, _ := h.output(ctx, "status", "taowa-operator", "-n", operatorNS)
		t.Logf("operator release:\n%s", out)
		logs, err := exec.Command(env.kubectl, "--kubeconfig", env.kubeconfig, "-n", operatorNS, "logs", "deploy/taowa-operator", "--tail", "200").CombinedOutput()
		t.Logf("operator log (%v):\n%s", err, logs)
	}
	out, err := h.output(ctx, "uninstall", "taowa-operator", "-n", operatorNS, "--wait")
	if err != nil {
		t.Logf("uninstall the operator: %v\n%s", err, out)
	}
	clusters := clusterClient(t).Namespace(ns)
	if list, err := clusters.List(ctx, metav1.ListOptions{}); err == nil {
		for _, c := range list.Items {
			_, _ = clusters.Patch(ctx, c.GetName(), types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
			_, _ = h.output(ctx, "uninstall", c.GetName(), "-n", ns, "--no-hooks", "--wait")
		}
	}
	if out, err := exec.Command(env.kubectl, "--kubeconfig", env.kubeconfig, "delete", "crd", "clusters.taowa.io", "--ignore-not-found").CombinedOutput(); err != nil {
		t.Logf("delete the CRD: %v\n%s", err, out)
	}
}

// BenchmarkClusterToReady measures the operator path: a Cluster applied until its status says
// Ready with the endpoint, one tenant at a time (each deleted, untimed, before the next); it
// reports the median. Each tenant's timeline goes to the log (and TAOWA_BENCH_OUT).
func BenchmarkClusterToReady(b *testing.B) {
	ctx := context.Background()
	h := helmFor(b, 3)
	_, err := clusterClient(b).List(ctx, metav1.ListOptions{Limit: 1})
	require.True(b, apierrors.IsNotFound(err), "the meta cluster serves taowa.io Clusters already: %v", err)
	operatorNS := testNamespace(ctx, b, "bench-operator")
	ns := testNamespace(ctx, b, "bench-cluster")
	clusters := clusterClient(b).Namespace(ns)
	b.Cleanup(func() { cleanUpOperator(b, h, operatorNS, ns) })
	h.run(ctx, b, "install", "taowa-operator", filepath.Join(repoRoot(), "charts", "taowa-operator"), "-n", operatorNS,
		"--set", "watchNamespace="+ns, "--wait", "--timeout", "2m")
	cli := taowaCLI{namespace: ns}
	b.StopTimer()
	var durations []time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-%d", i)
		manifest := fmt.Sprintf("apiVersion: taowa.io/v1alpha1\nkind: Cluster\nmetadata: {name: %s}\nspec: {kubernetesVersion: \"1.37.2\"}\n", name)
		b.StartTimer()
		start := time.Now()
		kubectlStdin(b, []byte(manifest), "apply", "-n", ns, "-f", "-")
		waitClusterNamed(ctx, b, clusters, name, name+" Ready with its endpoint", func(c *v1alpha1.Cluster) bool {
			return c.Status.Endpoint != "" && conditionIs(c, v1alpha1.ConditionReady, metav1.ConditionTrue)
		})
		durations = append(durations, time.Since(start))
		b.StopTimer()
		recordTimeline(ctx, b, tenant{release: name, namespace: ns}, "cluster-"+name)
		cli.must(ctx, b, "delete", name, "--wait")
	}
	b.ReportMetric(median(durations).Seconds(), "s-median/cluster-to-ready")
}
