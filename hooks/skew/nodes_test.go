package skew

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/taowa/taowa/hooks/pki"
	"github.com/taowa/taowa/hooks/tenant"
)

func TestCheckNodes(t *testing.T) {
	from := func(vs ...string) []Running {
		var out []Running
		for _, s := range vs {
			out = append(out, Running{Source: "test", Version: v(s)})
		}
		return out
	}
	kubelets := func(pairs ...string) []Kubelet {
		var out []Kubelet
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, Kubelet{Node: pairs[i], Version: pairs[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name, target string
		running      []Running
		kubelets     []Kubelet
		refused      string // substring of the refusal; empty: allowed
	}{
		{"upgrade: kubelet three minors behind the target", "1.37.2", from("1.36.3"), kubelets("w1", "v1.34.0"), ""},
		{"upgrade: kubelet four minors behind the target", "1.37.2", from("1.36.3"), kubelets("w1", "v1.33.4"),
			"refused: upgrading the control plane to 1.37.2 would leave kubelets more than 3 minor versions behind it: node w1 (v1.33.4); upgrade those kubelets to 1.34 or newer first"},
		{"upgrade: every offending node, in order, and only those", "1.37.2", from("1.36.3"),
			kubelets("worker-1", "v1.33.4", "worker-2", "v1.37.2", "worker-3", "v1.32.9", "worker-4", "v1.34.1"),
			"behind it: node worker-1 (v1.33.4), node worker-3 (v1.32.9); upgrade"},
		{"upgrade: kubelet of an older major", "1.37.2", from("1.36.3"), kubelets("w1", "v0.37.2"), "node w1 (v0.37.2)"},
		{"upgrade: vendor suffixes are read", "1.37.2", from("1.36.3"), kubelets("w1", "v1.34.2-eks-1a2b3c", "w2", "v1.36.3+k3s1"), ""},
		{"upgrade: a kubelet newer than the target was so before; not this step's doing", "1.36.3", from("1.35.4"), kubelets("w1", "v1.37.2"), ""},
		{"upgrade mid-rollout: the older running version counts", "1.37.2", from("1.37.2", "1.36.3"), kubelets("w1", "v1.33.4"), "node w1 (v1.33.4)"},
		{"upgrade: no Nodes", "1.37.2", from("1.36.3"), nil, ""},
		{"rollback: kubelet of the target's minor", "1.36.3", from("1.37.2"), kubelets("w1", "v1.36.3"), ""},
		{"rollback: kubelet of a newer patch of the target's minor", "1.36.3", from("1.37.2"), kubelets("w1", "v1.36.9"), ""},
		{"rollback: kubelet newer than the target", "1.36.3", from("1.37.2"), kubelets("w1", "v1.36.3", "w2", "v1.37.2"),
			"refused: rolling the control plane back to 1.36.3 would leave kubelets newer than it (a kubelet must not be newer than the apiserver): node w2 (v1.37.2); " +
				"bring those nodes' kubelets back to 1.36 or older, or remove the nodes, first"},
		{"rollback: a kubelet already too far behind is not this step's doing", "1.36.3", from("1.37.2"), kubelets("w1", "v1.32.1"), ""},
		{"unparseable kubelet versions", "1.37.2", from("1.36.3"), kubelets("w1", "v1.36.3", "w2", "banana", "w3", ""),
			`refused: cannot tell whether every kubelet keeps the version-skew policy with 1.37.2: node w2 reports kubelet version "banana", node w3 reports kubelet version "", not a version vX.Y.Z; fix or remove those nodes first`},
		{"both reasons at once", "1.37.2", from("1.36.3"), kubelets("w1", "v1.33.4", "w2", "1.36"),
			`node w1 (v1.33.4); upgrade those kubelets to 1.34 or newer first; also, cannot tell whether every kubelet keeps the version-skew policy with 1.37.2: node w2 reports kubelet version "1.36"`},
		{"a patch upgrade changes no kubelet's standing", "1.37.2", from("1.37.1"), kubelets("w1", "v1.33.4", "w2", "banana"), ""},
		{"a resync changes no kubelet's standing", "1.37.2", from("1.37.2"), kubelets("w1", "v1.38.0"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckNodes(v(tc.target), tc.running, tc.kubelets)
			if tc.refused == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, IsRefused(err), "a refusal, not a fault: %v", err)
			assert.Contains(t, err.Error(), tc.refused)
		})
	}
}

func node(name, kubelet string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.NodeInfo.KubeletVersion = kubelet
	return n
}

func TestKubelets(t *testing.T) {
	ctx := context.Background()
	got, err := Kubelets(ctx, fake.NewClientset(node("worker-b", "v1.36.3"), node("worker-a", "v1.35.4"), node("new", "")))
	require.NoError(t, err)
	assert.Equal(t, []Kubelet{{"new", ""}, {"worker-a", "v1.35.4"}, {"worker-b", "v1.36.3"}}, got, "by Node name, versions as reported")

	got, err = Kubelets(ctx, fake.NewClientset())
	require.NoError(t, err)
	assert.Empty(t, got)
}

// TestObserveKubelets reads the Nodes through the admin kubeconfig Secret, from a tenant apiserver
// that answers in two pages.
func TestObserveKubelets(t *testing.T) {
	ctx := context.Background()
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.URL.RequestURI())
		if r.URL.Path != "/api/v1/nodes" {
			http.NotFound(w, r)
			return
		}
		list := corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}}
		switch r.URL.Query().Get("continue") {
		case "":
			list.Items = []corev1.Node{*node("worker-c", "v1.36.3"), *node("worker-a", "v1.36.3")}
			list.Continue = "page-2"
		case "page-2":
			list.Items = []corev1.Node{*node("worker-b", "v1.33.4")}
		default:
			http.Error(w, "bad continue", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
	defer srv.Close()
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: t, cluster: {server: %q}}]
users: [{name: admin, user: {token: secret}}]
contexts: [{name: t, context: {cluster: t, user: admin}}]
current-context: t
`, srv.URL)
	meta := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tenant-a-" + pki.SecretAdminKubeconfig},
		Data:       map[string][]byte{pki.KeyKubeconfig: []byte(kubeconfig)},
	})

	got, err := ObserveKubelets(ctx, meta, "ns", "tenant-a")
	require.NoError(t, err)
	assert.Equal(t, []Kubelet{{"worker-a", "v1.36.3"}, {"worker-b", "v1.33.4"}, {"worker-c", "v1.36.3"}}, got, "both pages, by name")
	assert.Equal(t, []string{"/api/v1/nodes?limit=500", "/api/v1/nodes?continue=page-2&limit=500"}, requests)
	err = CheckNodes(v("1.37.2"), []Running{{Source: "test", Version: v("1.36.3")}}, got)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "node worker-b (v1.33.4);")

	_, err = ObserveKubelets(ctx, fake.NewClientset(), "ns", "tenant-a")
	assert.ErrorIs(t, err, tenant.ErrNoControlPlane, "no admin kubeconfig: nothing to ask")

	srv.Close()
	_, err = ObserveKubelets(ctx, meta, "ns", "tenant-a")
	require.Error(t, err, "a tenant apiserver that does not answer")
	assert.Contains(t, err.Error(), "list the tenant's Nodes")
}
