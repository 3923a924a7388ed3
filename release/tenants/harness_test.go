package tenants

import (
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes"
	k8sfake "k8s.io/client-go/kubernetes/fake"
)

// memCluster runs Helm's real actions against in-memory release storage and a kube client that
// applies nothing (hooks "succeed" at once). Every namespace shares one store, as Secrets in one
// meta cluster do.
type memCluster struct {
	mu        sync.Mutex // the memory driver keeps one current namespace: one caller at a time
	releases  *driver.Memory
	kube      kube.Interface
	clientset kubernetes.Interface
}

func newMemCluster() *memCluster {
	return &memCluster{
		releases:  driver.NewMemory(),
		kube:      &flakyKube{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
		clientset: k8sfake.NewClientset(),
	}
}

func (c *memCluster) ActionConfig(namespace string) (*action.Configuration, error) {
	return &action.Configuration{
		Releases:     storage.Init(&namespacedMemory{cluster: c, namespace: namespace}),
		KubeClient:   c.kube,
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}, nil
}

func (c *memCluster) Clientset() (kubernetes.Interface, error) { return c.clientset, nil }

// namespacedMemory is the shared memory driver seen from one namespace ("" for all).
type namespacedMemory struct {
	cluster   *memCluster
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
		return errNotReady
	}
	return k.PrintingKubeClient.Wait(resources, d)
}

func (k *flakyKube) WaitWithJobs(resources kube.ResourceList, d time.Duration) error {
	return k.Wait(resources, d)
}

var errNotReady = errors.New("context deadline exceeded: kube-apiserver never became ready")

// repoChart is charts/tenant-master of this repository.
func repoChart(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path, err := FindChart(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func newTestManager(t *testing.T, progress io.Writer) (*Manager, *memCluster) {
	t.Helper()
	cluster := newMemCluster()
	m, err := New(Config{Cluster: cluster, ChartPath: repoChart(t), Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	return m, cluster
}
