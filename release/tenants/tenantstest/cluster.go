// Package tenantstest provides an in-memory meta cluster for unit tests of package tenants and
// of the taowa command: real Helm actions, nothing applied.
package tenantstest

import (
	"errors"
	"io"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"

	"github.com/taowa/taowa/release/api/v1alpha1"
)

// Cluster is a tenants.Cluster for unit tests: Helm's real actions run against in-memory release
// storage and Helm's printing fake kube client, which applies nothing (hooks "succeed" at once,
// every wait is ready unless FailNthWait says otherwise). Every namespace shares one store, as
// the release Secrets of one meta cluster do. Its Clientset is client-go's fake, and so is each
// tenant apiserver (Tenant).
type Cluster struct {
	mu        sync.Mutex // the memory driver keeps one current namespace: one caller at a time
	releases  *driver.Memory
	kube      *flakyKube
	clientset *k8sfake.Clientset
	objects   *dynamicfake.FakeDynamicClient

	tenantsMu     sync.Mutex
	tenants       map[string]*k8sfake.Clientset // by the host the Manager dials
	tenantConfigs map[string]*rest.Config
}

// NewCluster returns an empty cluster.
func NewCluster() *Cluster {
	clientset := k8sfake.NewClientset()
	ServeEtcd(clientset, nil)
	return &Cluster{
		releases:  driver.NewMemory(),
		kube:      &flakyKube{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
		clientset: clientset,
		objects: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
			map[schema.GroupVersionResource]string{v1alpha1.Resource: v1alpha1.Kind + "List"}),
	}
}

// ClusterObjects is the cluster's dynamic client, which serves taowa.io Cluster objects (and
// nothing else: no operator acts on them).
func (c *Cluster) ClusterObjects() dynamic.Interface { return c.objects }

// ActionConfig implements tenants.Cluster.
func (c *Cluster) ActionConfig(namespace string) (*action.Configuration, error) {
	return &action.Configuration{
		Releases:     storage.Init(&namespacedMemory{cluster: c, namespace: namespace}),
		KubeClient:   c.kube,
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}, nil
}

// Clientset implements tenants.Cluster.
func (c *Cluster) Clientset() (kubernetes.Interface, error) { return c.clientset, nil }

// Tenant returns the in-memory apiserver of the tenant that the Manager reaches at host (an https
// URL: its Service's ClusterIP, or a --server), created empty on first use. Like a real tenant,
// its controller-manager signs cluster-info for each bootstrap token.
func (c *Cluster) Tenant(host string) *k8sfake.Clientset {
	c.tenantsMu.Lock()
	defer c.tenantsMu.Unlock()
	if c.tenants == nil {
		c.tenants, c.tenantConfigs = map[string]*k8sfake.Clientset{}, map[string]*rest.Config{}
	}
	if c.tenants[host] == nil {
		c.tenants[host] = k8sfake.NewClientset()
		signClusterInfo(c.tenants[host])
	}
	return c.tenants[host]
}

// signClusterInfo plays the tenant kube-controller-manager's bootstrapsigner: every read of
// kube-public/cluster-info first signs it for each signing bootstrap token in kube-system.
func signClusterInfo(client *k8sfake.Clientset) {
	tracker := client.Tracker()
	secrets, configMaps := corev1.SchemeGroupVersion.WithResource("secrets"), corev1.SchemeGroupVersion.WithResource("configmaps")
	client.PrependReactor("get", "configmaps", func(action k8stesting.Action) (bool, runtime.Object, error) {
		get := action.(k8stesting.GetAction)
		if get.GetNamespace() != "kube-public" || get.GetName() != bootstrapapi.ConfigMapClusterInfo {
			return false, nil, nil
		}
		obj, err := tracker.Get(configMaps, "kube-public", bootstrapapi.ConfigMapClusterInfo)
		if err != nil {
			return false, nil, nil // not there: the default reaction says so
		}
		cm := obj.(*corev1.ConfigMap).DeepCopy()
		list, err := tracker.List(secrets, corev1.SchemeGroupVersion.WithKind("Secret"), "kube-system")
		if err != nil {
			return true, nil, err
		}
		for _, s := range list.(*corev1.SecretList).Items {
			if s.Type != bootstrapapi.SecretTypeBootstrapToken || string(s.Data[bootstrapapi.BootstrapTokenUsageSigningKey]) != "true" {
				continue
			}
			id := string(s.Data[bootstrapapi.BootstrapTokenIDKey])
			signature, err := jws.ComputeDetachedSignature(cm.Data[bootstrapapi.KubeConfigKey], id, string(s.Data[bootstrapapi.BootstrapTokenSecretKey]))
			if err != nil {
				return true, nil, err
			}
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[bootstrapapi.JWSSignatureKeyPrefix+id] = signature
		}
		if err := tracker.Update(configMaps, cm, "kube-public"); err != nil {
			return true, nil, err
		}
		return false, nil, nil // the default reaction reads what was just written
	})
}

// TenantConfig returns the configuration the Manager last asked a client of host for, nil if
// none: what a real client would have dialled with.
func (c *Cluster) TenantConfig(host string) *rest.Config {
	c.tenantsMu.Lock()
	defer c.tenantsMu.Unlock()
	return c.tenantConfigs[host]
}

// TenantClientset implements tenants.TenantClients with Tenant(config.Host).
func (c *Cluster) TenantClientset(config *rest.Config) (kubernetes.Interface, error) {
	client := c.Tenant(config.Host)
	c.tenantsMu.Lock()
	defer c.tenantsMu.Unlock()
	c.tenantConfigs[config.Host] = rest.CopyConfig(config)
	return client, nil
}

// namespacedMemory is the shared memory driver seen from one namespace ("" for all).
type namespacedMemory struct {
	cluster   *Cluster
	namespace string
}

func (d *namespacedMemory) use() func() {
	d.cluster.mu.Lock()
	d.cluster.releases.SetNamespace(d.namespace)
	return d.cluster.mu.Unlock
}

func (d *namespacedMemory) Name() string { return driver.MemoryDriverName }
func (d *namespacedMemory) Get(key string) (*release.Release, error) {
	defer d.use()()
	return d.cluster.releases.Get(key)
}
func (d *namespacedMemory) List(filter func(*release.Release) bool) ([]*release.Release, error) {
	defer d.use()()
	return d.cluster.releases.List(filter)
}
func (d *namespacedMemory) Query(labels map[string]string) ([]*release.Release, error) {
	defer d.use()()
	return d.cluster.releases.Query(labels)
}
func (d *namespacedMemory) Create(key string, rls *release.Release) error {
	defer d.use()()
	return d.cluster.releases.Create(key, rls)
}
func (d *namespacedMemory) Update(key string, rls *release.Release) error {
	defer d.use()()
	return d.cluster.releases.Update(key, rls)
}
func (d *namespacedMemory) Delete(key string) (*release.Release, error) {
	defer d.use()()
	return d.cluster.releases.Delete(key)
}

// flakyKube is Helm's printing fake kube client whose Nth wait from now fails, as a rollout
// that never becomes ready would, and whose Nth hook from now fails.
type flakyKube struct {
	kubefake.PrintingKubeClient
	mu    sync.Mutex
	waits nthCall
	hooks nthCall
}

// nthCall counts calls and says when the one that must fail comes (at 0: never).
type nthCall struct{ calls, failAt int }

func (n *nthCall) failFrom(now int) { n.calls, n.failAt = 0, now }
func (n *nthCall) fails() bool      { n.calls++; return n.calls == n.failAt }

// FailNthHook makes the nth hook from now on fail, as a hook Job that fails or times out would.
func (c *Cluster) FailNthHook(n int) {
	c.kube.mu.Lock()
	defer c.kube.mu.Unlock()
	c.kube.hooks.failFrom(n)
}

// ErrHookFailed is the error of a failed hook.
var ErrHookFailed = errors.New("job failed: BackoffLimitExceeded")

func (k *flakyKube) WatchUntilReady(resources kube.ResourceList, d time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.hooks.fails() {
		return ErrHookFailed
	}
	return k.PrintingKubeClient.WatchUntilReady(resources, d)
}

// FailNthWait makes the nth wait for a rollout from now on fail, as a rollout that never gets
// ready would (with atomic, Helm's rollback waits too: count it).
func (c *Cluster) FailNthWait(n int) {
	c.kube.mu.Lock()
	defer c.kube.mu.Unlock()
	c.kube.waits.failFrom(n)
}

// ErrNotReady is the error of a failed wait.
var ErrNotReady = errors.New("context deadline exceeded: kube-apiserver never became ready")

func (k *flakyKube) Wait(resources kube.ResourceList, d time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.waits.fails() {
		return ErrNotReady
	}
	return k.PrintingKubeClient.Wait(resources, d)
}

func (k *flakyKube) WaitWithJobs(resources kube.ResourceList, d time.Duration) error {
	return k.Wait(resources, d)
}

// ChartPath is charts/tenant-master of this repository, for tests that install or render it.
func ChartPath() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "charts", "tenant-master")
}
