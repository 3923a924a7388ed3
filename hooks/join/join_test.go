package join

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/internal/certs"
)

func newCA(t *testing.T, name string) *certs.KeyPair {
	t.Helper()
	ca, err := certs.NewCA(name, time.Hour)
	require.NoError(t, err)
	return ca
}

// clusterInfoKubeconfig is cluster-info's kubeconfig as hooks/bootstrap writes it: one unnamed
// cluster, no user.
func clusterInfoKubeconfig(t *testing.T, server string, caPEM []byte) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[""] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	out, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return string(out)
}

func clusterInfo(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: "kube-public"}, Data: data}
}

func kubernetesSlice(name string, port int32, endpoints ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
		Endpoints:   endpoints,
	}
}

func endpoint(ready *bool, addresses ...string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: addresses, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
}

var (
	secretsResource    = corev1.SchemeGroupVersion.WithResource("secrets")
	configMapsResource = corev1.SchemeGroupVersion.WithResource("configmaps")
)

// simulateSigner plays the tenant kube-controller-manager's bootstrapsigner: from the read of
// cluster-info after the first unsignedReads on, it signs cluster-info for every signing
// bootstrap token Secret in kube-system, as the real one does once it has seen the Secret. It
// returns the number of reads of cluster-info.
func simulateSigner(t *testing.T, client *fake.Clientset, unsignedReads int32) *atomic.Int32 {
	var reads atomic.Int32
	tracker := client.Tracker()
	client.PrependReactor("get", "configmaps", func(action k8stesting.Action) (bool, runtime.Object, error) {
		get := action.(k8stesting.GetAction)
		if get.GetNamespace() != "kube-public" || get.GetName() != "cluster-info" || reads.Add(1) <= unsignedReads {
			return false, nil, nil
		}
		obj, err := tracker.Get(configMapsResource, "kube-public", "cluster-info")
		if err != nil {
			return false, nil, nil
		}
		cm := obj.(*corev1.ConfigMap).DeepCopy()
		list, err := tracker.List(secretsResource, corev1.SchemeGroupVersion.WithKind("Secret"), "kube-system")
		require.NoError(t, err)
		for _, s := range list.(*corev1.SecretList).Items {
			if s.Type != bootstrapapi.SecretTypeBootstrapToken || string(s.Data[bootstrapapi.BootstrapTokenUsageSigningKey]) != "true" {
				continue
			}
			id := string(s.Data[bootstrapapi.BootstrapTokenIDKey])
			sig, err := jws.ComputeDetachedSignature(cm.Data[bootstrapapi.KubeConfigKey], id, string(s.Data[bootstrapapi.BootstrapTokenSecretKey]))
			require.NoError(t, err)
			cm.Data[bootstrapapi.JWSSignatureKeyPrefix+id] = sig
		}
		require.NoError(t, tracker.Update(configMapsResource, cm, "kube-public"))
		return false, nil, nil // the default reaction reads what was just written
	})
	return &reads
}

// fakeTenant is a tenant apiserver with cluster-info for caPEM, one apiserver at 10.240.1.10:6443
// and a controller-manager that signs cluster-info at once.
func fakeTenant(t *testing.T, caPEM []byte) *fake.Clientset {
	client := fake.NewClientset(
		clusterInfo(map[string]string{"kubeconfig": clusterInfoKubeconfig(t, "https://10.240.1.10:6443", caPEM)}),
		kubernetesSlice("kubernetes", 6443, endpoint(nil, "10.240.1.10")))
	simulateSigner(t, client, 0)
	return client
}

func bootstrapTokenSecrets(t *testing.T, client *fake.Clientset) []corev1.Secret {
	t.Helper()
	list, err := client.CoreV1().Secrets("kube-system").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []corev1.Secret
	for _, s := range list.Items {
		if s.Type == bootstrapapi.SecretTypeBootstrapToken {
			out = append(out, s)
		}
	}
	return out
}

func TestPrepare(t *testing.T) {
	ca := newCA(t, "tenant-ca")
	info := clusterInfoKubeconfig(t, "https://10.240.1.10:6443", ca.CertPEM())
	client := fake.NewClientset(
		clusterInfo(map[string]string{"kubeconfig": info}),
		kubernetesSlice("kubernetes", 6443,
			endpoint(nil, "10.240.1.11"), endpoint(ptr.To(true), "10.240.1.10"), endpoint(ptr.To(false), "10.240.1.12")),
		kubernetesSlice("kubernetes-2", 6443, endpoint(ptr.To(true), "10.240.1.13")),
		// Another Service's slice: not an apiserver.
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "dns", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "dns"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Port: ptr.To[int32](53)}},
			Endpoints:   []discoveryv1.Endpoint{endpoint(nil, "10.240.1.53")},
		},
	)
	// The first read finds no signature: Prepare must wait for it.
	reads := simulateSigner(t, client, 1)

	start := time.Now()
	p, err := Prepare(context.Background(), client, ca.CertPEM(), 2*time.Hour, "rack 7")
	require.NoError(t, err)

	assert.Equal(t, []string{"10.240.1.10:6443", "10.240.1.11:6443", "10.240.1.13:6443"}, p.Servers)
	assert.Equal(t, []string{CACertHash(ca.Cert)}, p.CACertHashes)
	assert.GreaterOrEqual(t, reads.Load(), int32(2), "Prepare returned before the signer had signed")
	assert.WithinDuration(t, start.Add(2*time.Hour), p.Expires, 2*time.Second)
	assert.False(t, p.Expires.Before(start.Add(2*time.Hour).Truncate(time.Second)), "the token expires before its ttl")

	token, err := ParseToken(p.Token)
	require.NoError(t, err)
	secrets := bootstrapTokenSecrets(t, client)
	require.Len(t, secrets, 1)
	s := secrets[0]
	assert.Equal(t, "bootstrap-token-"+token.ID, s.Name)
	assert.Equal(t, map[string]string{
		"token-id":                       token.ID,
		"token-secret":                   token.Secret,
		"usage-bootstrap-authentication": "true",
		"usage-bootstrap-signing":        "true",
		"auth-extra-groups":              "system:bootstrappers:kubeadm:default-node-token",
		"expiration":                     p.Expires.Format(time.RFC3339),
		"description":                    "rack 7",
	}, stringData(s.Data))
	expiration, err := time.Parse(time.RFC3339, string(s.Data["expiration"]))
	require.NoError(t, err)
	assert.True(t, expiration.Equal(p.Expires), "Secret expires %s, parameters say %s", expiration, p.Expires)

	// What Prepare waited for is what a node checks.
	cm, err := client.CoreV1().ConfigMaps("kube-public").Get(context.Background(), "cluster-info", metav1.GetOptions{})
	require.NoError(t, err)
	pins, err := parsePins(p.CACertHashes)
	require.NoError(t, err)
	caPEM, err := verifyClusterInfo(cm.Data, token, pins)
	require.NoError(t, err)
	assert.Equal(t, ca.CertPEM(), caPEM)
}

func stringData(data map[string][]byte) map[string]string {
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = string(v)
	}
	return out
}

func TestPrepareRefusesBeforeCreatingAToken(t *testing.T) {
	ca := newCA(t, "tenant-ca")
	info := clusterInfo(map[string]string{"kubeconfig": clusterInfoKubeconfig(t, "https://10.240.1.10:6443", ca.CertPEM())})
	apiserver := kubernetesSlice("kubernetes", 6443, endpoint(nil, "10.240.1.10"))
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		caPEM   []byte
		ttl     time.Duration
		want    string
	}{
		{"zero ttl", []runtime.Object{info, apiserver}, ca.CertPEM(), 0, "want more than 0"},
		{"negative ttl", []runtime.Object{info, apiserver}, ca.CertPEM(), -time.Hour, "want more than 0"},
		{"no CA", []runtime.Object{info, apiserver}, []byte("not PEM"), time.Hour, "CA certificates"},
		{"no apiserver endpoints", []runtime.Object{info}, ca.CertPEM(), time.Hour, "default/kubernetes"},
		{"only unready apiservers", []runtime.Object{info, kubernetesSlice("kubernetes", 6443, endpoint(ptr.To(false), "10.240.1.10"))},
			ca.CertPEM(), time.Hour, "no ready apiserver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objects...)
			simulateSigner(t, client, 0)
			_, err := Prepare(context.Background(), client, tc.caPEM, tc.ttl, "")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, bootstrapTokenSecrets(t, client))
		})
	}
}

// When cluster-info does not verify in time, Prepare says why and takes the token back.
func TestPrepareGivesUp(t *testing.T) {
	ca, other := newCA(t, "tenant-ca"), newCA(t, "someone-else")
	apiserver := kubernetesSlice("kubernetes", 6443, endpoint(nil, "10.240.1.10"))
	for _, tc := range []struct {
		name   string
		infoCA []byte
		signer bool
		want   error
	}{
		{"no signer", ca.CertPEM(), false, ErrTokenNotSigned},
		{"cluster-info names another CA", other.CertPEM(), true, ErrCAHashMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(apiserver,
				clusterInfo(map[string]string{"kubeconfig": clusterInfoKubeconfig(t, "https://10.240.1.10:6443", tc.infoCA)}))
			if tc.signer {
				simulateSigner(t, client, 0)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
			defer cancel()
			_, err := Prepare(ctx, client, ca.CertPEM(), time.Hour, "")
			require.ErrorIs(t, err, tc.want)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), "bootstrapsigner")
			assert.Empty(t, bootstrapTokenSecrets(t, client), "the unusable token was left behind")
		})
	}
}

func TestParseToken(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Token
		ok   bool
	}{
		{"abcdef.0123456789abcdef", Token{"abcdef", "0123456789abcdef"}, true},
		{"abcdef0123456789abcdef", Token{}, false},
		{"ABCDEF.0123456789abcdef", Token{}, false},
		{"abcde.0123456789abcdef", Token{}, false},
		{"abcdef.0123456789abcde", Token{}, false},
		{"abcdef.0123456789abcdef.x", Token{}, false},
		{"abcdef.0123456789abcd-f", Token{}, false},
		{"", Token{}, false},
	} {
		got, err := ParseToken(tc.in)
		if !tc.ok {
			require.Error(t, err, tc.in)
			assert.Contains(t, err.Error(), "[a-z0-9]{6}.[a-z0-9]{16}")
			if tc.in != "" {
				assert.NotContains(t, err.Error(), tc.in, "the error echoes the token")
			}
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
		assert.Equal(t, tc.in, got.String())
	}
}

// The pin is kubeadm's: the SHA-256 of the DER public key, as
// `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum` computes it.
func TestCACertHash(t *testing.T) {
	ca := newCA(t, "tenant-ca")
	der, err := x509.MarshalPKIXPublicKey(ca.Cert.PublicKey)
	require.NoError(t, err)
	sum := sha256.Sum256(der)
	got := CACertHash(ca.Cert)
	assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), got)
	assert.Regexp(t, regexp.MustCompile(`^sha256:[0-9a-f]{64}$`), got)
	assert.NotEqual(t, got, CACertHash(newCA(t, "tenant-ca").Cert), "two CAs, one pin")
}

func TestBootstrapKubeconfig(t *testing.T) {
	ca := newCA(t, "tenant-ca")
	token := Token{ID: "abcdef", Secret: "0123456789abcdef"}
	out, err := BootstrapKubeconfig("10.240.1.10:6443", ca.CertPEM(), token)
	require.NoError(t, err)

	cfg, err := clientcmd.Load(out)
	require.NoError(t, err)
	current := cfg.Contexts[cfg.CurrentContext]
	require.NotNil(t, current, "no current context")
	assert.Equal(t, TokenUser, current.AuthInfo)
	assert.Equal(t, "https://10.240.1.10:6443", cfg.Clusters[current.Cluster].Server)
	assert.Equal(t, ca.CertPEM(), cfg.Clusters[current.Cluster].CertificateAuthorityData)
	assert.Equal(t, "abcdef.0123456789abcdef", cfg.AuthInfos[TokenUser].Token)

	rest, err := clientcmd.RESTConfigFromKubeConfig(out)
	require.NoError(t, err)
	assert.Equal(t, "abcdef.0123456789abcdef", rest.BearerToken)
	assert.Equal(t, ca.CertPEM(), rest.CAData)

	out, err = BootstrapKubeconfig("[fd00::1]:6443", ca.CertPEM(), token)
	require.NoError(t, err)
	assert.Contains(t, string(out), "server: https://[fd00::1]:6443")

	for _, bad := range []struct {
		server string
		ca     []byte
		token  Token
	}{
		{"https://10.240.1.10:6443", ca.CertPEM(), token},
		{"10.240.1.10", ca.CertPEM(), token},
		{"10.240.1.10:0", ca.CertPEM(), token},
		{"10.240.1.10:6443", nil, token},
		{"10.240.1.10:6443", ca.CertPEM(), Token{ID: "abcdef", Secret: "short"}},
	} {
		_, err := BootstrapKubeconfig(bad.server, bad.ca, bad.token)
		assert.Error(t, err, "%+v", bad.server)
		if err != nil {
			assert.False(t, strings.Contains(err.Error(), bad.token.Secret), "the error shows the token secret: %v", err)
		}
	}
}
