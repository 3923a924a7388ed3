package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taowa/taowa/internal/certs"
)

var (
	caSecrets = []string{SecretCA, SecretFrontProxyCA, SecretEtcdCA}
	// caOf maps every certificate Secret to the CA that issues it.
	caOf = map[string]string{
		SecretAPIServer: SecretCA, SecretAPIServerKubeletClient: SecretCA, SecretFrontProxyClient: SecretFrontProxyCA,
		SecretAPIServerEtcdClient: SecretEtcdCA, SecretEtcdServer: SecretEtcdCA, SecretEtcdPeer: SecretEtcdCA,
		SecretMetricsClient: SecretCA,
	}
	kubeconfigSecrets = []string{SecretAdminKubeconfig, SecretSuperAdminKubeconfig, SecretControllerManagerKC, SecretSchedulerKC}
)

func rotate(t *testing.T, client *fake.Clientset, id, phase string) ([]string, error) {
	t.Helper()
	cfg := testConfig()
	cfg.CARotation = CARotation{ID: id, Phase: phase}
	return Ensure(context.Background(), client, cfg, io.Discard)
}

func snapshot(t *testing.T, client *fake.Clientset) map[string]map[string][]byte {
	t.Helper()
	all := map[string]map[string][]byte{}
	for _, s := range allSecrets {
		all[s] = secretData(t, client, s)
	}
	return all
}

// pemCerts splits a bundle into its certificates, as PEM.
func pemCerts(t *testing.T, bundle []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		out = append(out, pem.EncodeToMemory(block))
	}
}

func kubeconfigParts(t *testing.T, data []byte) (clientCert, bundle []byte) {
	t.Helper()
	cfg, err := clientcmd.Load(data)
	require.NoError(t, err)
	for _, a := range cfg.AuthInfos {
		clientCert = a.ClientCertificateData
	}
	for _, c := range cfg.Clusters {
		bundle = c.CertificateAuthorityData
	}
	return clientCert, bundle
}

// assertPKI checks every Secret against the CAs: each leaf and kubeconfig client certificate is
// issued by signer (per CA Secret), and every trust bundle is exactly trusted (per CA Secret).
func assertPKI(t *testing.T, client *fake.Clientset, signer map[string][]byte, trusted map[string][][]byte) {
	t.Helper()
	for _, ca := range caSecrets {
		data := secretData(t, client, ca)
		assert.Equal(t, signer[ca], data[KeyCert], "%s signs", ca)
		assert.Equal(t, trusted[ca], pemCerts(t, data[KeyCA]), "%s trust bundle", ca)
	}
	for leaf, ca := range caOf {
		data := secretData(t, client, leaf)
		verifyChain(t, data[KeyCert], signer[ca], x509.ExtKeyUsageAny)
		assert.Equal(t, trusted[ca], pemCerts(t, data[KeyCA]), "%s trust bundle", leaf)
	}
	for _, kc := range kubeconfigSecrets {
		cert, bundle := kubeconfigParts(t, secretData(t, client, kc)[KeyKubeconfig])
		verifyChain(t, cert, signer[SecretCA], x509.ExtKeyUsageClientAuth)
		assert.Equal(t, trusted[SecretCA], pemCerts(t, bundle), "%s certificate-authority-data", kc)
	}
}

func TestCARotationPhases(t *testing.T) {
	client := fake.NewClientset()
	require.NoError(t, errOf(Ensure(context.Background(), client, testConfig(), io.Discard)))
	old := map[string][]byte{}
	for _, ca := range caSecrets {
		old[ca] = secretData(t, client, ca)[KeyCert]
	}
	before := snapshot(t, client)

	// trust: a new CA next to each old one, trusted everywhere; nothing is re-issued but the
	// kubeconfigs, which carry the bundle.
	renewed, err := rotate(t, client, "r1", PhaseTrust)
	require.NoError(t, err)
	assert.ElementsMatch(t, kubeconfigSecrets, renewed)
	next, trustBoth := map[string][]byte{}, map[string][][]byte{}
	for _, ca := range caSecrets {
		data := secretData(t, client, ca)
		next[ca] = data[KeyNextCert]
		require.NotEmpty(t, next[ca], "%s holds the new CA", ca)
		assert.NotEqual(t, old[ca], next[ca])
		assert.Equal(t, "r1/trust", secretAnnotation(t, client, ca))
		trustBoth[ca] = [][]byte{old[ca], next[ca]}
	}
	assertPKI(t, client, old, trustBoth)
	for leaf := range caOf {
		assert.Equal(t, before[leaf][KeyCert], secretData(t, client, leaf)[KeyCert], "%s is not re-issued on trust", leaf)
	}

	// Repeating a phase changes nothing.
	afterTrust := snapshot(t, client)
	renewed, err = rotate(t, client, "r1", PhaseTrust)
	require.NoError(t, err)
	assert.Empty(t, renewed)
	assert.Equal(t, afterTrust, snapshot(t, client))

	// switch: the new CA signs; every leaf is re-issued from it; both are still trusted.
	renewed, err = rotate(t, client, "r1", PhaseSwitch)
	require.NoError(t, err)
	assert.Len(t, renewed, len(caOf)+len(kubeconfigSecrets))
	assertPKI(t, client, next, trustBoth)
	for _, ca := range caSecrets {
		assert.NotContains(t, secretData(t, client, ca), KeyNextCert, "the new CA is the signer now")
	}
	assert.Equal(t, before[SecretServiceAccount], secretData(t, client, SecretServiceAccount), "the service-account key is no CA")

	// A rollback of the values to the trust phase is no step back.
	afterSwitch := snapshot(t, client)
	require.NoError(t, errOf(rotate(t, client, "r1", PhaseTrust)))
	assert.Equal(t, afterSwitch, snapshot(t, client))

	// finish: only the new CA is trusted.
	require.NoError(t, errOf(rotate(t, client, "r1", PhaseFinish)))
	trustNew := map[string][][]byte{}
	for _, ca := range caSecrets {
		trustNew[ca] = [][]byte{next[ca]}
	}
	assertPKI(t, client, next, trustNew)

	// Runs without a rotation, and a finished rotation's values left in place, keep it all.
	afterFinish := snapshot(t, client)
	require.NoError(t, errOf(Ensure(context.Background(), client, testConfig(), io.Discard)))
	require.NoError(t, errOf(rotate(t, client, "r1", PhaseTrust)))
	assert.Equal(t, afterFinish, snapshot(t, client))

	// A second rotation starts from the first one's CA.
	require.NoError(t, errOf(rotate(t, client, "r2", PhaseTrust)))
	assert.Equal(t, next[SecretCA], pemCerts(t, secretData(t, client, SecretCA)[KeyCA])[0])
}

func secretAnnotation(t *testing.T, client *fake.Clientset, short string) string {
	t.Helper()
	s, err := client.CoreV1().Secrets("tenants").Get(context.Background(), "tenant-a-"+short, metav1.GetOptions{})
	require.NoError(t, err)
	return s.Annotations[AnnotationCARotation]
}

func TestCARotationRefusesPhasesOutOfOrder(t *testing.T) {
	client := fake.NewClientset()
	require.NoError(t, errOf(Ensure(context.Background(), client, testConfig(), io.Discard)))
	before := snapshot(t, client)

	_, err := rotate(t, client, "r1", PhaseSwitch)
	require.ErrorContains(t, err, `CA rotation "r1" has not started; its first phase is trust, not switch`)
	assert.Equal(t, before, snapshot(t, client), "a refused phase writes nothing")

	require.NoError(t, errOf(rotate(t, client, "r1", PhaseTrust)))
	_, err = rotate(t, client, "r1", PhaseFinish)
	require.ErrorContains(t, err, `CA rotation "r1" is in phase trust; phase switch must be applied (and rolled out) before finish`)
	require.ErrorContains(t, err, "secret tenants/tenant-a-ca")

	_, err = rotate(t, client, "r2", PhaseTrust)
	require.ErrorContains(t, err, `CA rotation "r1" is in phase trust; finish it (phase finish) before starting rotation "r2"`)

	for _, bad := range []CARotation{{ID: "r1", Phase: "later"}, {ID: "R 1", Phase: PhaseTrust}, {Phase: PhaseTrust}} {
		cfg := testConfig()
		cfg.CARotation = bad
		_, err := Ensure(context.Background(), client, cfg, io.Discard)
		assert.ErrorContains(t, err, "CA rotation", "%+v", bad)
	}
}

// A run killed between two CA Secrets leaves each CA in a whole phase; the next run completes
// the rest without creating a second new CA.
func TestCARotationResumesAfterAFailedRun(t *testing.T) {
	client := fake.NewClientset()
	require.NoError(t, errOf(Ensure(context.Background(), client, testConfig(), io.Discard)))
	failed := false
	client.PrependReactor("update", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
		s := action.(k8stesting.UpdateAction).GetObject().(*corev1.Secret)
		if s.Name == "tenant-a-"+SecretEtcdCA && !failed {
			failed = true
			return true, nil, assert.AnError
		}
		return false, nil, nil
	})
	_, err := rotate(t, client, "r1", PhaseTrust)
	require.ErrorIs(t, err, assert.AnError)
	firstNext := secretData(t, client, SecretCA)[KeyNextCert]
	require.NotEmpty(t, firstNext)
	assert.Empty(t, secretData(t, client, SecretEtcdCA)[KeyNextCert])

	require.NoError(t, errOf(rotate(t, client, "r1", PhaseTrust)))
	assert.Equal(t, firstNext, secretData(t, client, SecretCA)[KeyNextCert], "no second new CA")
	assert.NotEmpty(t, secretData(t, client, SecretEtcdCA)[KeyNextCert])
	etcdLeaf := secretData(t, client, SecretEtcdServer)
	assert.True(t, bytes.Equal(etcdLeaf[KeyCA], secretData(t, client, SecretEtcdCA)[KeyCA]), "leaves carry the completed bundle")
}

// CA Secrets written before trust bundles existed get one, and nothing else changes.
func TestCASecretWithoutBundleGetsOne(t *testing.T) {
	client := fake.NewClientset()
	require.NoError(t, errOf(Ensure(context.Background(), client, testConfig(), io.Discard)))
	s, err := client.CoreV1().Secrets("tenants").Get(context.Background(), "tenant-a-"+SecretCA, metav1.GetOptions{})
	require.NoError(t, err)
	delete(s.Data, KeyCA)
	_, err = client.CoreV1().Secrets("tenants").Update(context.Background(), s, metav1.UpdateOptions{})
	require.NoError(t, err)
	before := snapshot(t, client)

	var out bytes.Buffer
	renewed, err := Ensure(context.Background(), client, testConfig(), &out)
	require.NoError(t, err)
	assert.Empty(t, renewed)
	assert.Contains(t, out.String(), "updated secret/tenant-a-ca (added its trust bundle)")
	assert.Equal(t, before[SecretCA][KeyCert], secretData(t, client, SecretCA)[KeyCA])
	ca, err := certs.ParseCert(secretData(t, client, SecretCA)[KeyCert])
	require.NoError(t, err)
	assert.True(t, ca.IsCA)
}

func TestRestartsForPhase(t *testing.T) {
	cfg := testConfig()
	deployments, statefulSets := cfg.RestartsForPhase(PhaseTrust)
	assert.Equal(t, []string{"tenant-a-apiserver", "tenant-a-controller-manager", "tenant-a-scheduler"}, deployments)
	assert.Equal(t, []string{"tenant-a-etcd"}, statefulSets, "etcd loads trusted CAs only at start")
	_, statefulSets = cfg.RestartsForPhase(PhaseSwitch)
	assert.Empty(t, statefulSets, "etcd reloads its own certificates")
	_, statefulSets = cfg.RestartsForPhase(PhaseFinish)
	assert.Equal(t, []string{"tenant-a-etcd"}, statefulSets)
}
