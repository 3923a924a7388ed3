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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/taowa/taowa/release/api/v1alpha1"
)

// Cluster is a tenants.Cluster for unit tests: Helm's real actions run against in-memory release
// storage and Helm's printing fake kube client, which applies nothing (hooks "succeed" at once,
// every wait is ready unless FailNthWait says otherwise). Every namespace shares one store, as
// the release Secrets of one meta cluster do. Its Clientset is client-go's fake.
type Cluster struct {
	mu        sync.Mutex // the memory driver keeps one current namespace: one caller at a time
	releases  *driver.Memory
	kube      *flakyKube
	clientset *k8sfake.Clientset
	objects   *dynamicfake.FakeDynamicClient
}

// NewCluster returns an empty cluster.
func NewCluster() *Cluster {
	return &Cluster{
		releases:  driver.NewMemory(),
		kube:      &flakyKube{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
		clientset: k8sfake.NewClientset(),
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
// that never becomes ready would.
type flakyKube struct {
	kubefake.PrintingKubeClient
	mu         sync.Mutex
	waits      int
	failWaitAt int // 0: never
}

// FailNthWait makes the nth wait for a rollout from now on fail, as a rollout that never gets
// ready would (with atomic, Helm's rollback waits too: count it).
func (c *Cluster) FailNthWait(n int) { c.kube.failNthWait(n) }

// ErrNotReady is the error of a failed wait.
var ErrNotReady = errors.New("context deadline exceeded: kube-apiserver never became ready")

func (k *flakyKube) failNthWait(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.waits, k.failWaitAt = 0, n
}

func (k *flakyKube) Wait(resources kube.ResourceList, d time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.waits++
	if k.waits == k.failWaitAt {
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
