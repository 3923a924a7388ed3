package addons

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/taowa/taowa/versions"
)

func testConfig() Config {
	return Config{
		KubernetesVersion: versions.Version{Major: 1, Minor: 37, Patch: 2},
		Registry:          "registry.k8s.io",
		APIServer:         "https://10.240.1.10:6443",
		PodCIDR:           netip.MustParsePrefix("10.200.0.0/16"),
		ServiceCIDR:       netip.MustParsePrefix("10.32.0.0/16"),
		ClusterDomain:     "cluster.local",
		KubeProxy:         true,
		CoreDNSReplicas:   2,
	}
}

func renderAddon(t *testing.T, c Config, name string) map[string]*unstructured.Unstructured {
	t.Helper()
	data, err := c.templateData()
	require.NoError(t, err)
	objects, err := render(name, data)
	require.NoError(t, err)
	byKind := map[string]*unstructured.Unstructured{}
	for _, o := range objects {
		byKind[o.GetKind()+"/"+o.GetName()] = o
	}
	return byKind
}

func TestKubeProxyManifest(t *testing.T) {
	objects := renderAddon(t, testConfig(), "kube-proxy")
	ds := objects["DaemonSet/kube-proxy"]
	require.NotNil(t, ds)
	containers, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "containers")
	require.Len(t, containers, 1)
	assert.Equal(t, "registry.k8s.io/kube-proxy:v1.37.2", containers[0].(map[string]any)["image"], "kube-proxy runs the tenant's version")
	cm := objects["ConfigMap/kube-proxy"]
	require.NotNil(t, cm)
	kubeconfig, _, _ := unstructured.NestedString(cm.Object, "data", "kubeconfig.conf")
	assert.Contains(t, kubeconfig, "server: https://10.240.1.10:6443", "kube-proxy reaches the apiserver directly")
	config, _, _ := unstructured.NestedString(cm.Object, "data", "config.conf")
	assert.Contains(t, config, "clusterCIDR: 10.200.0.0/16")

	hash := func(c Config) string {
		ds := renderAddon(t, c, "kube-proxy")["DaemonSet/kube-proxy"]
		h, _, _ := unstructured.NestedString(ds.Object, "spec", "template", "metadata", "annotations", "taowa.io/config-hash")
		return h
	}
	moved := testConfig()
	moved.APIServer = "https://10.240.1.11:6443"
	assert.NotEqual(t, hash(testConfig()), hash(moved), "a new apiserver address rolls kube-proxy")
}

func TestCoreDNSManifest(t *testing.T) {
	objects := renderAddon(t, testConfig(), "coredns")
	svc := objects["Service/kube-dns"]
	require.NotNil(t, svc)
	ip, _, _ := unstructured.NestedString(svc.Object, "spec", "clusterIP")
	assert.Equal(t, "10.32.0.10", ip)
	d := objects["Deployment/coredns"]
	require.NotNil(t, d)
	replicas, _, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "replicas")
	assert.EqualValues(t, 2, replicas)
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	assert.Equal(t, "registry.k8s.io/coredns/coredns:v1.14.7", containers[0].(map[string]any)["image"], "the version table's CoreDNS")
	corefile, _, _ := unstructured.NestedString(objects["ConfigMap/coredns"].Object, "data", "Corefile")
	assert.Contains(t, corefile, "kubernetes cluster.local in-addr.arpa")
}

func TestConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"unsupported minor":          {func(c *Config) { c.KubernetesVersion.Minor = 20 }, "unsupported Kubernetes minor 1.20"},
		"service range too small":    {func(c *Config) { c.ServiceCIDR = netip.MustParsePrefix("10.32.0.0/29") }, "too small for the DNS Service address"},
		"kube-proxy without address": {func(c *Config) { c.APIServer = "" }, "no apiserver address"},
	} {
		t.Run(name, func(t *testing.T) {
			c := testConfig()
			tc.edit(&c)
			_, err := c.templateData()
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// Apply removes an add-on that is turned off, and succeeds when it is already gone. (Applying is
// proven against a real apiserver by the e2e tests: the fake dynamic client has no server-side
// apply.)
func TestApplyRemovesWhatIsOff(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	listKinds := map[schema.GroupVersionResource]string{}
	for _, name := range []string{"kube-proxy", "coredns"} {
		for _, obj := range renderAddon(t, testConfig(), name) {
			gvk := obj.GroupVersionKind()
			resource := gvk.GroupVersion().WithResource(strings.ToLower(gvk.Kind) + "s")
			scope := meta.RESTScopeNamespace
			if obj.GetNamespace() == "" {
				scope = meta.RESTScopeRoot
			}
			mapper.Add(gvk, scope)
			listKinds[resource] = gvk.Kind + "List"
		}
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds)
	ctx := context.Background()
	count := 0
	for _, name := range []string{"kube-proxy", "coredns"} {
		for _, obj := range renderAddon(t, testConfig(), name) {
			res, err := resourceFor(client, mapper, obj)
			require.NoError(t, err)
			_, err = res.Create(ctx, obj, metav1.CreateOptions{})
			require.NoError(t, err)
			count++
		}
	}
	require.Greater(t, count, 10)

	off := testConfig()
	off.KubeProxy, off.CoreDNSReplicas = false, 0
	var out bytes.Buffer
	require.NoError(t, Apply(ctx, client, mapper, off, &out))
	assert.Contains(t, out.String(), "add-on kube-proxy off: removed")
	assert.Contains(t, out.String(), "add-on coredns off: removed")
	deletes := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "delete" {
			deletes++
		}
	}
	assert.Equal(t, count, deletes, "every object of both add-ons is deleted")
	_, err := client.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}).Namespace("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "%v", err)
	require.NoError(t, Apply(ctx, client, mapper, off, &out), "removing what is gone succeeds")
}
