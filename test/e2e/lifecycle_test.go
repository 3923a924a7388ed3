//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/release/tenants"
	"github.com/taowa/taowa/versions"
)

// TestTenantLifecycle walks one tenant through day 2 with Helm: install 1.36, bootstrap a node
// token, helm test, an upgrade refused for a Node's old kubelet, upgrade to 1.37, a refused two-minor rollback, a refused change of etcd's
// member count, helm rollback to 1.36, a restore
// from a snapshot, a scheduled snapshot, an upgrade that breaks the apiserver rolled back by Helm 4's
// --rollback-on-failure and by Helm 3's --atomic, an etcd Pod deleted, an uninstall that leaves a
// final snapshot; the tenant's objects survive every step.
func TestTenantLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	root := repoRoot()
	chart := filepath.Join(root, "charts", "tenant-master")
	helm3, helm4 := helmFor(t, 3), helmFor(t, 4)
	helm4.run(ctx, t, "plugin", "install", filepath.Join(root, "postrender", "plugin"))
	tn := tenant{release: "tenant-l", namespace: testNamespace(ctx, t, "e2e-lifecycle"), version: "1.36.3", helm: helm3,
		postRenderer: filepath.Join(root, "bin", "taowa-postrender")}
	ns, rel := tn.namespace, tn.release
	postRender := []string{"--post-renderer", tn.postRenderer}
	// Every snapshot also goes to the meta cluster's object store, encrypted; each step's
	// snapshots are there as on the volume, each verified by its recorded SHA-256 when read back.
	store, key := objectStoreFor(ctx, t, ns)
	stored := storeClient(t, store, "e2e-lifecycle", key)
	assertStoredAsOnTheVolume := func(t *testing.T) {
		t.Helper()
		// The volume lists by name, the store by upload time.
		assert.ElementsMatch(t, listSnapshots(ctx, t, tn), storedSnapshots(ctx, t, stored, tn), "snapshots in the object store")
	}

	helm3.run(ctx, t, slices.Concat([]string{"install", rel, chart, "-n", ns, "--set", "kubernetesVersion=1.36.3", "--wait", "--timeout", "5m"},
		objectStoreValues(store, "e2e-lifecycle"), postRender)...)
	client := tenantClient(ctx, t, tn)
	requireServes(ctx, t, tn, "1.36.3")
	writeObjects(ctx, t, client)
	// The admin kubeconfig as its owner keeps it: it must work with the tenant restored at the end.
	oldAdmin, err := tenantRESTConfig(ctx, tn)
	require.NoError(t, err)

	t.Run("ready hook bootstrapped node joining", func(t *testing.T) {
		assertBootstrapTokenWorks(ctx, t, tn, client)
	})
	t.Run("helm test", func(t *testing.T) {
		out := helm3.run(ctx, t, "test", rel, "-n", ns)
		assert.Contains(t, out, "Phase:          Succeeded")

		// The same command from here: its checks, and that it fails on the wrong version.
		kubeconfig := adminKubeconfigFile(ctx, t, tn)
		hook := filepath.Join(root, "bin", "taowa-hook")
		out2, err := exec.CommandContext(ctx, hook, "test", "--admin-kubeconfig", kubeconfig, "--kubernetes-version", "1.36.3").CombinedOutput()
		require.NoError(t, err, "%s", out2)
		assert.Contains(t, string(out2), "ok: the test identity may not read Secrets")
		out2, err = exec.CommandContext(ctx, hook, "test", "--admin-kubeconfig", kubeconfig, "--kubernetes-version", "1.37.2").CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out2), "tenant apiserver serves Kubernetes 1.36.3, the release asks for 1.37.2")
	})

	t.Run("an upgrade that leaves a kubelet too far behind is refused", func(t *testing.T) {
		// A Node whose kubelet reports 1.33: four minors behind 1.37, one more than the policy allows.
		admin := tenantClient(ctx, t, tn)
		_, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "old-kubelet"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		// Gone before the next step, whatever happens here: it would hold every later upgrade back.
		defer func() { assert.NoError(t, admin.CoreV1().Nodes().Delete(ctx, "old-kubelet", metav1.DeleteOptions{})) }()
		// The controller-manager updates a new Node too (its Pod range, taints).
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			node, err := admin.CoreV1().Nodes().Get(ctx, "old-kubelet", metav1.GetOptions{})
			if err != nil {
				return err
			}
			node.Status.NodeInfo.KubeletVersion = "v1.33.4"
			_, err = admin.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
			return err
		}))
		out, err := helm3.output(ctx, append([]string{"upgrade", rel, chart, "-n", ns, "--reuse-values", "--set", "kubernetesVersion=1.37.2", "--wait", "--timeout", "3m"}, postRender...)...)
		require.Error(t, err, "helm upgrade to 1.37 must fail:\n%s", out)
		logs := kubectl(t, "-n", ns, "logs", "job/"+rel+"-pre-upgrade")
		assert.Contains(t, logs, "node old-kubelet (v1.33.4)")
		requireServes(ctx, t, tn, "1.36.3")
	})

	t.Run("upgrade to 1.37", func(t *testing.T) {
		helm3.run(ctx, t, append([]string{"upgrade", rel, chart, "-n", ns, "--reuse-values", "--set", "kubernetesVersion=1.37.2", "--wait", "--timeout", "5m"}, postRender...)...)
		requireServes(ctx, t, tn, "1.37.2")
		assertObjects(ctx, t, tn)
		waitComponentsAt(ctx, t, ns, "1.37.2")
		snapshots := listSnapshots(ctx, t, tn)
		require.Len(t, snapshots, 1, "the pre-upgrade hook took one snapshot")
		assert.Regexp(t, `^pre-upgrade-\d{8}T\d{6}Z-rev\d+\.db$`, snapshots[0])
		out := helm3.run(ctx, t, "test", rel, "-n", ns)
		assert.Contains(t, out, "Phase:          Succeeded")
	})

	t.Run("a rollback of two minors is refused", func(t *testing.T) {
		out, err := helm3.output(ctx, append([]string{"upgrade", rel, chart, "-n", ns, "--reuse-values", "--set", "kubernetesVersion=1.35.4", "--wait", "--timeout", "3m"}, postRender...)...)
		require.Error(t, err, "helm upgrade to 1.35 must fail:\n%s", out)
		assert.Contains(t, out, "pre-upgrade hooks failed")
		logs := kubectl(t, "-n", ns, "logs", "job/"+rel+"-pre-upgrade")
		assert.Contains(t, logs, "cannot roll back Kubernetes 1.37.2 to 1.35.4: a rollback goes back one minor at most, to 1.36.3")
		requireServes(ctx, t, tn, "1.37.2")
		waitComponentsAt(ctx, t, ns, "1.37.2")
	})

	t.Run("a change of etcd members is refused", func(t *testing.T) {
		out, err := helm3.output(ctx, append([]string{"upgrade", rel, chart, "-n", ns, "--reuse-values", "--set", "etcd.replicas=3", "--wait", "--timeout", "3m"}, postRender...)...)
		require.Error(t, err, "helm upgrade with etcd.replicas=3 must fail:\n%s", out)
		logs := kubectl(t, "-n", ns, "logs", "job/"+rel+"-pre-upgrade")
		assert.Contains(t, logs, "etcd.replicas is 1 on the running tenant")
		sts, err := env.client.AppsV1().StatefulSets(ns).Get(ctx, rel+"-etcd", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, int32(1), *sts.Spec.Replicas, "etcd keeps its one member")
		requireServes(ctx, t, tn, "1.37.2")
		assertObjects(ctx, t, tn)
	})

	t.Run("helm rollback to 1.36", func(t *testing.T) {
		helm3.run(ctx, t, "rollback", rel, "1", "-n", ns, "--wait", "--timeout", "5m")
		requireServes(ctx, t, tn, "1.36.3")
		waitComponentsAt(ctx, t, ns, "1.36.3")
		assertObjects(ctx, t, tn)
		history := helm3.run(ctx, t, "history", rel, "-n", ns)
		for _, want := range []string{"Install complete", "Upgrade complete", "Rollback to 1"} {
			assert.Contains(t, history, want)
		}
		assert.Contains(t, history, "failed", "the refused upgrade stays in the history")
	})

	t.Run("restore etcd from a snapshot", func(t *testing.T) {
		snapshots := listSnapshots(ctx, t, tn)
		require.Len(t, snapshots, 2, "one snapshot before the upgrade, one before the rollback")
		newest := snapshots[len(snapshots)-1]
		c, err := newTenantClient(ctx, tn)
		require.NoError(t, err)
		_, err = c.CoreV1().ConfigMaps("lifecycle").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-snapshot"}}, metav1.CreateOptions{})
		require.NoError(t, err)

		helm3.run(ctx, t, append([]string{"upgrade", rel, chart, "-n", ns, "--reuse-values", "--set", "etcd.restoreFrom=" + newest, "--wait", "--timeout", "5m"}, postRender...)...)
		waitUntil(ctx, t, "the object written after the snapshot is gone", func(ctx context.Context) (bool, error) {
			c, err := newTenantClient(ctx, tn)
			if err != nil {
				return false, err
			}
			_, err = c.CoreV1().ConfigMaps("lifecycle").Get(ctx, "after-snapshot", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
		assertObjects(ctx, t, tn)
		assert.Contains(t, kubectl(t, "-n", ns, "logs", rel+"-etcd-0", "-c", "etcd-restore"), "restored from "+newest)
		// The upgrade that restored took its own snapshot first.
		assert.Len(t, listSnapshots(ctx, t, tn), 3)
		assertStoredAsOnTheVolume(t)
	})

	t.Run("scheduled snapshot", func(t *testing.T) {
		kubectl(t, "-n", ns, "create", "job", "--from=cronjob/"+rel+"-etcd-snapshot", "snapshot-now")
		kubectl(t, "-n", ns, "wait", "--for=condition=complete", "--timeout=3m", "job/snapshot-now")
		snapshots := listSnapshots(ctx, t, tn)
		require.Len(t, snapshots, 4)
		assert.Regexp(t, `^scheduled-\d{8}T\d{6}Z-rev\d+\.db$`, snapshots[3], "the CronJob's series")
		kubectl(t, "-n", ns, "delete", "job", "snapshot-now", "--wait")
		assertStoredAsOnTheVolume(t)

		// The store unreachable: the scheduled Job fails, and neither the store nor the volume
		// holds a new snapshot; once the store is back the next run stores one.
		setObjectStoreReplicas(t, 0)
		started := time.Now()
		kubectl(t, "-n", ns, "create", "job", "--from=cronjob/"+rel+"-etcd-snapshot", "snapshot-unreachable")
		kubectl(t, "-n", ns, "wait", "--for=condition=failed", "--timeout=3m", "job/snapshot-unreachable")
		t.Logf("the snapshot Job failed %.0fs after it was created, its retries spent", time.Since(started).Seconds())
		assert.Contains(t, kubectl(t, "-n", ns, "logs", "job/snapshot-unreachable"), "object store http://"+store.Endpoint+" unreachable")
		// Helm users see it where they look at a tenant's health; the tenant itself still serves.
		health := taowaCLI{namespace: ns}.must(ctx, t, "status", rel, "--health")
		assert.Regexp(t, `SNAPSHOTS: FAILED: Job snapshot-unreachable failed at \S+ \(BackoffLimitExceeded\): .*object store http://`+regexp.QuoteMeta(store.Endpoint)+` unreachable`, health)
		setObjectStoreReplicas(t, 1)
		assert.Equal(t, snapshots, listSnapshots(ctx, t, tn), "no snapshot taken while the store was away")
		assertStoredAsOnTheVolume(t)
		kubectl(t, "-n", ns, "delete", "job", "snapshot-unreachable", "--wait")
		kubectl(t, "-n", ns, "create", "job", "--from=cronjob/"+rel+"-etcd-snapshot", "snapshot-back")
		kubectl(t, "-n", ns, "wait", "--for=condition=complete", "--timeout=3m", "job/snapshot-back")
		kubectl(t, "-n", ns, "delete", "job", "snapshot-back", "--wait")
		assert.Len(t, listSnapshots(ctx, t, tn), 5)
		assertStoredAsOnTheVolume(t)

		// taowa snapshots of the installed tenant: its values name the store, with its address
		// as this host reaches it on top.
		listed := listedSnapshots(ctx, t, taowaCLI{namespace: ns}, rel, "--verify", "--set", "etcd.snapshots.objectStore.endpoint="+store.HostEndpoint)
		require.Len(t, listed.Snapshots, 5)
		for _, s := range listed.Snapshots {
			require.NotNil(t, s.Volume, "%s on the volume", s.Name)
			require.NotNil(t, s.Store, "%s in the store", s.Name)
			assert.Equal(t, "ok", s.Volume.Verified, "%s on the volume", s.Name)
			assert.Equal(t, "ok", s.Store.Verified, "%s in the store", s.Name)
		}
	})

	// The store refusing the tenant's credentials stops an upgrade in its pre-upgrade hook, before
	// any snapshot or change: the tenant serves as it was, and the next upgrade goes through.
	t.Run("an upgrade is stopped by a store that refuses", func(t *testing.T) {
		snapshots := listSnapshots(ctx, t, tn)
		setStoreSecretKey(ctx, t, ns, "not-"+store.SecretKey)
		out, err := helm3.output(ctx, append([]string{"upgrade", rel, chart, "-n", ns, "--reuse-values",
			"--set", "scheduler.extraArgs.v=3", "--wait", "--timeout", "3m"}, postRender...)...)
		setStoreSecretKey(ctx, t, ns, store.SecretKey)
		require.Error(t, err, "an upgrade whose snapshot the store refuses:\n%s", out)
		assert.Contains(t, out, "pre-upgrade hooks failed")
		assert.Contains(t, kubectl(t, "-n", ns, "logs", "job/"+rel+"-pre-upgrade"), "access denied to bucket "+store.Bucket)
		requireServes(ctx, t, tn, "1.36.3")
		d, err := env.client.AppsV1().Deployments(ns).Get(ctx, rel+"-scheduler", metav1.GetOptions{})
		require.NoError(t, err)
		assert.NotContains(t, d.Spec.Template.Spec.Containers[0].Args, "--v=3", "nothing of the upgrade applied")
		assert.Equal(t, snapshots, listSnapshots(ctx, t, tn), "no snapshot taken")
		assertStoredAsOnTheVolume(t)
	})

	// An unknown TLS version makes kube-apiserver exit at start; Helm 3's --atomic and Helm 4's
	// --rollback-on-failure must both bring the previous revision back.
	for _, failed := range []struct {
		name string
		args []string
	}{
		{"Helm 4 --rollback-on-failure", []string{"--post-renderer", "taowa-postrender", "--rollback-on-failure"}},
		{"Helm 3 --atomic", append([]string{"--atomic"}, postRender...)},
	} {
		h := helm4
		if strings.HasPrefix(failed.name, "Helm 3") {
			h = helm3
		}
		t.Run("a failed upgrade rolls back ("+failed.name+")", func(t *testing.T) {
			out, err := h.output(ctx, append([]string{"upgrade", rel, chart, "-n", ns, "--reuse-values",
				"--set", "apiserver.extraArgs.tls-min-version=VersionTLS99", "--timeout", "45s"}, failed.args...)...)
			require.Error(t, err, "the upgrade must fail:\n%s", out)
			assert.Contains(t, out, "rolled back")
			requireServes(ctx, t, tn, "1.36.3")
			assertObjects(ctx, t, tn)
			d, err := env.client.AppsV1().Deployments(ns).Get(ctx, rel+"-apiserver", metav1.GetOptions{})
			require.NoError(t, err)
			assert.NotContains(t, strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), "VersionTLS99", "the previous revision is back")
			waitUntil(ctx, t, "apiserver Deployment back to its ready replicas", func(ctx context.Context) (bool, error) {
				d, err := env.client.AppsV1().Deployments(ns).Get(ctx, rel+"-apiserver", metav1.GetOptions{})
				return err == nil && d.Status.UpdatedReplicas == d.Status.Replicas && d.Status.ReadyReplicas == *d.Spec.Replicas, err
			})
		})
	}

	t.Run("etcd Pod deleted comes back with its data", func(t *testing.T) {
		require.NoError(t, env.client.CoreV1().Pods(ns).Delete(ctx, rel+"-etcd-0", metav1.DeleteOptions{}))
		waitUntil(ctx, t, "tenant serves again after the etcd Pod was replaced", func(ctx context.Context) (bool, error) {
			c, err := newTenantClient(ctx, tn)
			if err != nil {
				return false, err
			}
			_, err = c.CoreV1().ConfigMaps("lifecycle").Get(ctx, "keep", metav1.GetOptions{})
			return err == nil, err
		})
		assertObjects(ctx, t, tn)
	})

	t.Run("uninstall", func(t *testing.T) {
		// The final snapshot refused by the store stops the uninstall in its pre-delete hook,
		// before anything is deleted: Helm marks the release uninstalling, the tenant serves, no
		// final snapshot is taken, and the uninstall that follows the store's repair completes.
		setStoreSecretKey(ctx, t, ns, "not-"+store.SecretKey)
		out, err := helm3.output(ctx, "uninstall", rel, "-n", ns, "--wait", "--timeout", "3m")
		setStoreSecretKey(ctx, t, ns, store.SecretKey)
		require.Error(t, err, "an uninstall whose final snapshot the store refuses:\n%s", out)
		assert.Contains(t, out, "job "+rel+"-etcd-snapshot-final failed: PodFailurePolicy", "refused at once, not retried")
		assert.Contains(t, kubectl(t, "-n", ns, "logs", "job/"+rel+"-etcd-snapshot-final"), "access denied to bucket "+store.Bucket)
		assert.Contains(t, helm3.run(ctx, t, "status", rel, "-n", ns), "STATUS: uninstalling")
		requireServes(ctx, t, tn, "1.36.3")
		for _, s := range listSnapshots(ctx, t, tn) {
			assert.False(t, strings.HasPrefix(s, "final-"), "no final snapshot yet: %s", s)
		}

		helm3.run(ctx, t, "uninstall", rel, "-n", ns, "--wait", "--timeout", "3m")
		var final []string
		for _, s := range listSnapshots(ctx, t, tn) {
			if strings.HasPrefix(s, "final-") {
				final = append(final, s)
			}
		}
		require.Len(t, final, 1, "the pre-delete hook took one final snapshot")
		assert.Regexp(t, `^final-\d{8}T\d{6}Z-rev\d+\.db$`, final[0])
		assertStoredAsOnTheVolume(t)

		// taowa snapshots says what exists where. The release is gone and its volume kept: the
		// volume alone, then with the store named as at install, every copy verified.
		cli := taowaCLI{namespace: ns}
		onVolume := listedSnapshots(ctx, t, cli, rel)
		assert.Equal(t, []string{"volume " + ns + "/" + rel + "-etcd-snapshots"}, onVolume.Listed)
		require.Len(t, onVolume.NotListed, 1)
		assert.Contains(t, onVolume.NotListed[0], "object store: no release "+rel)
		var names []string
		for _, s := range onVolume.Snapshots {
			require.NotNil(t, s.Volume, s.Name)
			assert.Nil(t, s.Store, s.Name)
			names = append(names, s.Name)
		}
		assert.ElementsMatch(t, listSnapshots(ctx, t, tn), names, "taowa snapshots lists the volume")
		fromHost := store
		fromHost.Endpoint = store.HostEndpoint
		both := listedSnapshots(ctx, t, cli, rel, append([]string{"--verify"}, objectStoreValues(fromHost, "e2e-lifecycle")...)...)
		assert.Equal(t, []string{"volume " + ns + "/" + rel + "-etcd-snapshots", "s3://" + store.Bucket + "/e2e-lifecycle/" + ns + "/" + rel + "/"}, both.Listed)
		require.Len(t, both.Snapshots, len(names))
		for _, s := range both.Snapshots {
			require.NotNil(t, s.Volume, "%s on the volume", s.Name)
			require.NotNil(t, s.Store, "%s in the store", s.Name)
			assert.Equal(t, "ok", s.Volume.Verified, "%s on the volume", s.Name)
			assert.Equal(t, "ok", s.Store.Verified, "%s in the store", s.Name)
			assert.Equal(t, s.Store.Revision, s.Volume.Revision, "%s: one snapshot, two copies", s.Name)
		}
		assert.Equal(t, final[0], both.Snapshots[len(both.Snapshots)-1].Name, "oldest first: the final snapshot last")
		// Last: it deletes the volumes and PKI uninstall keeps.
		assertOnlyDataLeft(ctx, t, tn)
	})

	// The tenant lost with its namespace (release, volumes, PKI); the object store still has its
	// snapshots. A damaged one is refused before anything is installed; an older good one
	// brings the tenant back, with its objects, under the same name.
	t.Run("a deleted tenant restored from the object store", func(t *testing.T) {
		snapshots := storedSnapshots(ctx, t, stored, tn)
		require.NoError(t, env.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
		waitUntil(ctx, t, "namespace "+ns+" gone", func(ctx context.Context) (bool, error) {
			_, err := env.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		_, err := env.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		require.NoError(t, err)
		writeStoreSecrets(ctx, t, ns, store, key)
		cli := taowaCLI{namespace: ns}
		// The CLI runs on the host, which resolves no cluster DNS name: the store by its
		// ClusterIP, which the restored tenant's Pods reach as well.
		fromHost := store
		fromHost.Endpoint = store.HostEndpoint

		deleted := listedSnapshots(ctx, t, cli, rel, append([]string{"--verify"}, objectStoreValues(fromHost, "e2e-lifecycle")...)...)
		assert.Equal(t, []string{"volume: no PersistentVolumeClaim " + ns + "/" + rel + "-etcd-snapshots (the namespace's volumes were deleted)"}, deleted.NotListed)
		var listed []tenants.StoredSnapshot
		for _, s := range deleted.Snapshots {
			require.NotNil(t, s.Store, s.Name)
			assert.Equal(t, "ok", s.Store.Verified, s.Name)
			listed = append(listed, *s.Store)
		}
		require.Len(t, listed, len(snapshots), "taowa snapshots of the deleted tenant")
		newest := listed[len(listed)-1]
		require.True(t, strings.HasPrefix(newest.Name, "final-"), "the newest is the final snapshot: %s", newest.Name)

		// A snapshot that does not exist is refused, naming what does; nothing is installed.
		out, err := cli.run(ctx, append([]string{"restore", rel, "--from", ns + "/" + rel, "--version", "1.36.3", "--snapshot", "scheduled-20200101T000000Z-rev1.db"},
			objectStoreValues(fromHost, "e2e-lifecycle")...)...)
		require.Error(t, err, "a restore of a snapshot that does not exist: %s", out)
		assert.Contains(t, err.Error(), "no snapshot scheduled-20200101T000000Z-rev1.db; the object store holds: "+listed[0].Name)

		corruptStored(ctx, t, store, newest.Key)
		restore := append([]string{"restore", rel, "--from", ns + "/" + rel, "--version", "1.36.3"}, objectStoreValues(fromHost, "e2e-lifecycle")...)
		out, err = cli.run(ctx, restore...)
		require.Error(t, err, "a restore from a damaged snapshot: %s", out)
		assert.Contains(t, err.Error(), "object s3://"+store.Bucket+"/"+newest.Key+": SHA-256 mismatch: the object is corrupt")
		releases, err := env.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
		require.NoError(t, err)
		assert.Empty(t, releases.Items, "a refused restore installs nothing")

		var older string
		for _, l := range listed {
			if strings.HasPrefix(l.Name, "scheduled-") {
				older = l.Name
			}
		}
		require.NotEmpty(t, older, "a scheduled snapshot in %+v", listed)
		start := time.Now()
		cli.must(ctx, t, append(restore, "--snapshot", older)...)
		t.Logf("taowa restore returned after %.1fs (the snapshot downloaded and verified, the PKI's roots written, the tenant installed and Ready)", time.Since(start).Seconds())
		requireServes(ctx, t, tn, "1.36.3")
		assertObjects(ctx, t, tn)
		// The PKI came back with the data: the old admin credentials, and the old CA verifying
		// the new apiserver (at its new address, which its serving certificate names).
		restored, err := tenantRESTConfig(ctx, tn)
		require.NoError(t, err)
		withOld := rest.CopyConfig(oldAdmin)
		withOld.Host = restored.Host
		oldClient, err := kubernetes.NewForConfig(withOld)
		require.NoError(t, err)
		_, err = oldClient.CoreV1().ConfigMaps("lifecycle").Get(ctx, "keep", metav1.GetOptions{})
		require.NoError(t, err, "the old admin kubeconfig against the restored tenant")
		secrets, err := oldClient.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
		require.NoError(t, err, "Secrets encrypted at rest before the loss are readable")
		assert.NotEmpty(t, secrets.Items, "the bootstrap tokens' Secrets")
		assert.Contains(t, kubectl(t, "-n", ns, "logs", rel+"-etcd-0", "-c", "etcd-restore"), "restored from "+older)
		helm3.run(ctx, t, "uninstall", rel, "-n", ns, "--wait", "--no-hooks")
	})
}

// requireServes waits until the tenant's Service answers with version (during a rollout either
// version may answer) and keeps answering it.
func requireServes(ctx context.Context, t *testing.T, tn tenant, version string) {
	t.Helper()
	waitUntil(ctx, t, fmt.Sprintf("%s serves v%s", tn.release, version), func(ctx context.Context) (bool, error) {
		c, err := newTenantClient(ctx, tn)
		if err != nil {
			return false, err
		}
		for range 5 {
			info, err := c.Discovery().ServerVersion()
			if err != nil {
				return false, err
			}
			if info.GitVersion != "v"+version {
				return false, fmt.Errorf("serves %s", info.GitVersion)
			}
		}
		return true, nil
	})
}

func writeObjects(ctx context.Context, t testing.TB, c kubernetes.Interface) {
	t.Helper()
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lifecycle"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	for i := range 20 {
		name := "keep"
		if i > 0 {
			name = fmt.Sprintf("keep-%d", i)
		}
		_, err := c.CoreV1().ConfigMaps("lifecycle").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"n": fmt.Sprint(i)},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

func assertObjects(ctx context.Context, t testing.TB, tn tenant) {
	t.Helper()
	c, err := newTenantClient(ctx, tn)
	require.NoError(t, err)
	var list *corev1.ConfigMapList
	waitUntil(ctx, t, "tenant objects readable", func(ctx context.Context) (bool, error) {
		list, err = c.CoreV1().ConfigMaps("lifecycle").List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	var names []string
	for _, cm := range list.Items {
		if strings.HasPrefix(cm.Name, "keep") {
			names = append(names, cm.Name)
		}
	}
	assert.Len(t, names, 20, "every ConfigMap written after install is still there")
}

// assertBootstrapTokenWorks creates a bootstrap token the way `kubeadm token create` does and
// checks what a joining node relies on: the controller manager signs cluster-info for it, and the
// token authenticates as a member of the bootstrappers group.
func assertBootstrapTokenWorks(ctx context.Context, t *testing.T, tn tenant, admin kubernetes.Interface) {
	info, err := admin.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
	require.NoError(t, err, "the ready hook writes kube-public/cluster-info")
	assert.Contains(t, info.Data["kubeconfig"], "certificate-authority-data")

	const id, secret = "taowa1", "0123456789abcdef"
	_, err = admin.CoreV1().Secrets("kube-system").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id},
		Type:       corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"token-id": id, "token-secret": secret, "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
			"auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
			"expiration":        time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitUntil(ctx, t, "bootstrapsigner signs cluster-info", func(ctx context.Context) (bool, error) {
		cm, err := admin.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
		return err == nil && cm.Data["jws-kubeconfig-"+id] != "", err
	})

	cfg, err := tenantRESTConfig(ctx, tn)
	require.NoError(t, err)
	anon := rest.AnonymousClientConfig(cfg)
	anon.BearerToken = id + "." + secret
	nodeClient, err := kubernetes.NewForConfig(anon)
	require.NoError(t, err)
	review, err := nodeClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "system:bootstrap:"+id, review.Status.UserInfo.Username)
	assert.Contains(t, review.Status.UserInfo.Groups, "system:bootstrappers:kubeadm:default-node-token")
}

// adminKubeconfigFile writes the tenant's admin kubeconfig, pointed at its ClusterIP, to a file.
func adminKubeconfigFile(ctx context.Context, t *testing.T, tn tenant) string {
	t.Helper()
	secret, err := env.client.CoreV1().Secrets(tn.namespace).Get(ctx, tn.release+"-"+pki.SecretAdminKubeconfig, metav1.GetOptions{})
	require.NoError(t, err)
	cfg, err := clientcmd.Load(secret.Data[pki.KeyKubeconfig])
	require.NoError(t, err)
	rc, err := tenantRESTConfig(ctx, tn)
	require.NoError(t, err)
	for _, cluster := range cfg.Clusters {
		cluster.Server = rc.Host
	}
	path := filepath.Join(t.TempDir(), "admin.kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// listedSnapshots is what taowa snapshots NAME lists, with args.
func listedSnapshots(ctx context.Context, t *testing.T, cli taowaCLI, name string, args ...string) tenants.SnapshotList {
	t.Helper()
	var list tenants.SnapshotList
	out := cli.must(ctx, t, append([]string{"snapshots", name, "-o", "json"}, args...)...)
	require.NoError(t, json.Unmarshal([]byte(out), &list), "taowa snapshots -o json: %s", out)
	return list
}

// listSnapshots lists the snapshot volume's snapshots, oldest first, from a Pod that mounts it.
func listSnapshots(ctx context.Context, t *testing.T, tn tenant) []string {
	t.Helper()
	return strings.Fields(onSnapshotVolume(ctx, t, tn, "snapshot listing", "ls -1 /snapshots | grep '^[^.].*[.]db$' | sort || true"))
}

// grepSnapshots returns, for each of needles, how many of tn's snapshot files contain it.
func grepSnapshots(ctx context.Context, t *testing.T, tn tenant, needles ...string) map[string]int {
	t.Helper()
	out := onSnapshotVolume(ctx, t, tn, "the snapshots searched",
		`for n in "$@"; do echo "$(grep -l -F -e "$n" /snapshots/*.db 2>/dev/null | wc -l) $n"; done`, needles...)
	found := map[string]int{}
	for line := range strings.Lines(out) {
		count, needle, _ := strings.Cut(strings.TrimSpace(line), " ")
		n, err := strconv.Atoi(count)
		require.NoError(t, err, "line %q", line)
		found[needle] = n
	}
	return found
}

// onSnapshotVolume runs script (with args as $1...) in a Pod that mounts tn's snapshot volume
// read-only at /snapshots, and returns its output.
func onSnapshotVolume(ctx context.Context, t *testing.T, tn tenant, what, script string, args ...string) string {
	t.Helper()
	spec := withVolume(busyboxPod(script), "snapshots", "/snapshots")
	spec.Containers[0].Command = append([]string{"sh", "-c", script, "snapshots"}, args...)
	// etcd writes snapshots readable by their owner only: the chart's hook user.
	spec.SecurityContext.RunAsUser, spec.SecurityContext.RunAsGroup = ptr.To[int64](65532), ptr.To[int64](65532)
	spec.RestartPolicy = corev1.RestartPolicyNever
	spec.Volumes = []corev1.Volume{{Name: "snapshots", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: tn.release + "-etcd-snapshots", ReadOnly: true},
	}}}
	pod, err := env.client.CoreV1().Pods(tn.namespace).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "snapshots-"}, Spec: spec}, metav1.CreateOptions{})
	require.NoError(t, err)
	defer env.client.CoreV1().Pods(tn.namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{})
	waitUntil(ctx, t, what, func(ctx context.Context) (bool, error) {
		p, err := env.client.CoreV1().Pods(tn.namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodSucceeded, err
	})
	return kubectl(t, "-n", tn.namespace, "logs", pod.Name)
}

// TestTenantUpgradeChain (make e2e-versions) installs the oldest supported minor and upgrades it
// one minor at a time to the newest, through etcd's one minor change (3.5 to 3.6 between 1.33 and
// 1.34): at every step the tenant serves the new version and keeps every object written at
// install.
func TestTenantUpgradeChain(t *testing.T) {
	if os.Getenv("TAOWA_E2E_VERSIONS") == "" {
		t.Skip("run by make e2e-versions, which builds every supported version")
	}
	releases := versions.Builtin().Releases()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(releases))*6*time.Minute)
	defer cancel()
	root := repoRoot()
	chart := filepath.Join(root, "charts", "tenant-master")
	postRender := []string{"--post-renderer", filepath.Join(root, "bin", "taowa-postrender")}
	h := helmFor(t, 3)
	tn := tenant{release: "chain", namespace: testNamespace(ctx, t, "e2e-chain"), version: releases[0].Kubernetes.String(), helm: h}
	h.run(ctx, t, append([]string{"install", tn.release, chart, "-n", tn.namespace, "--set", "kubernetesVersion=" + tn.version,
		"--wait", "--timeout", "5m"}, postRender...)...)
	writeObjects(ctx, t, tenantClient(ctx, t, tn))
	for _, r := range releases[1:] {
		start := time.Now()
		h.run(ctx, t, append([]string{"upgrade", tn.release, chart, "-n", tn.namespace, "--reuse-values",
			"--set", "kubernetesVersion=" + r.Kubernetes.String(), "--wait", "--timeout", "5m"}, postRender...)...)
		requireServes(ctx, t, tn, r.Kubernetes.String())
		waitComponentsAt(ctx, t, tn.namespace, r.Kubernetes.String())
		assertObjects(ctx, t, tn)
		etcd, err := env.client.CoreV1().Pods(tn.namespace).Get(ctx, tn.release+"-etcd-0", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, r.Etcd.String(), etcd.Annotations["taowa.io/etcd-version"])
		t.Logf("upgraded to %s (etcd %s) in %.0fs", r.Kubernetes, r.Etcd, time.Since(start).Seconds())
	}
	h.run(ctx, t, "uninstall", tn.release, "-n", tn.namespace, "--wait", "--timeout", "3m")
}
