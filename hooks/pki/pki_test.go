package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/taowa/taowa/internal/certs"
)

func testConfig() Config {
	return Config{
		Release: "tenant-a", Namespace: "tenants", MetaDNSDomain: "cluster.local",
		TenantServiceCIDR: "10.32.0.0/16", TenantDNSDomain: "tenant.local",
		ExternalAddresses: []string{"203.0.113.7", "api.tenant-a.example"},
		APIServerPort:     6443, EtcdReplicas: 3, CAValidity: 10 * 365 * 24 * time.Hour, CertValidity: 365 * 24 * time.Hour,
	}
}

var allSecrets = []string{
	SecretCA, SecretFrontProxyCA, SecretEtcdCA, SecretAPIServer, SecretAPIServerKubeletClient,
	SecretAPIServerEtcdClient, SecretFrontProxyClient, SecretEtcdServer, SecretEtcdPeer, SecretMetricsClient,
	SecretServiceAccount, SecretAdminKubeconfig, SecretSuperAdminKubeconfig, SecretControllerManagerKC, SecretSchedulerKC,
}

func secretData(t *testing.T, client *fake.Clientset, short string) map[string][]byte {
	t.Helper()
	s, err := client.CoreV1().Secrets("tenants").Get(context.Background(), "tenant-a-"+short, metav1.GetOptions{})
	require.NoError(t, err)
	return s.Data
}

func TestEnsureCreatesEverySecretOnceAndKeepsThem(t *testing.T) {
	client := fake.NewClientset()
	ctx := context.Background()
	require.NoError(t, errOf(Ensure(ctx, client, testConfig(), io.Discard)))

	list, err := client.CoreV1().Secrets("tenants").List(ctx, metav1.ListOptions{LabelSelector: LabelRelease + "=tenant-a"})
	require.NoError(t, err)
	assert.Len(t, list.Items, len(allSecrets))
	first := map[string]map[string][]byte{}
	for _, short := range allSecrets {
		first[short] = secretData(t, client, short)
	}

	var out bytes.Buffer
	client.ClearActions()
	require.NoError(t, errOf(Ensure(ctx, client, testConfig(), &out)))
	assert.NotContains(t, out.String(), "created", "a second run must create nothing")
	reads := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "secrets" {
			reads++
		}
	}
	assert.Equal(t, len(allSecrets), reads, "a run with nothing to do reads each Secret once")
	for _, short := range allSecrets {
		assert.Equal(t, first[short], secretData(t, client, short), "secret %s changed on the second run", short)
	}
}

func TestMissingLeafIsReissuedFromTheExistingCA(t *testing.T) {
	client := fake.NewClientset()
	ctx := context.Background()
	require.NoError(t, errOf(Ensure(ctx, client, testConfig(), io.Discard)))
	caBefore := secretData(t, client, SecretCA)
	require.NoError(t, client.CoreV1().Secrets("tenants").Delete(ctx, "tenant-a-"+SecretAPIServer, metav1.DeleteOptions{}))

	require.NoError(t, errOf(Ensure(ctx, client, testConfig(), io.Discard)))
	assert.Equal(t, caBefore, secretData(t, client, SecretCA))
	leaf := secretData(t, client, SecretAPIServer)
	verifyChain(t, leaf[KeyCert], caBefore[KeyCert], x509.ExtKeyUsageServerAuth)
	assert.Equal(t, caBefore[KeyCert], leaf[KeyCA])
}

// A run killed after another run created the CA must adopt that CA, not make a second one.
func TestConcurrentCreationAdoptsTheWinner(t *testing.T) {
	winner, err := certs.NewCA("winner", time.Hour)
	require.NoError(t, err)
	winnerSecret, err := tlsSecret(winner, winner.CertPEM())
	require.NoError(t, err)
	winnerSecret.Name, winnerSecret.Namespace = "tenant-a-"+SecretCA, "tenants"

	client := fake.NewClientset()
	raced := false
	client.PrependReactor("create", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
		s := action.(k8stesting.CreateAction).GetObject().(*corev1.Secret)
		if s.Name != winnerSecret.Name || raced {
			return false, nil, nil
		}
		raced = true
		require.NoError(t, client.Tracker().Add(winnerSecret))
		return true, nil, apierrors.NewAlreadyExists(corev1.Resource("secrets"), s.Name)
	})
	require.NoError(t, errOf(Ensure(context.Background(), client, testConfig(), io.Discard)))
	assert.True(t, raced)
	assert.Equal(t, winner.CertPEM(), secretData(t, client, SecretCA)[KeyCert])
	verifyChain(t, secretData(t, client, SecretAPIServer)[KeyCert], winner.CertPEM(), x509.ExtKeyUsageServerAuth)
}

// A certificate issued before the Service existed (a run without HelmRelease) gains the ClusterIP
// once the Service exists, from the same CA, and nothing else changes.
func TestServingCertificateGainsTheClusterIPOnceTheServiceExists(t *testing.T) {
	client := fake.NewClientset()
	ctx := context.Background()
	require.NoError(t, errOf(Ensure(ctx, client, testConfig(), io.Discard)))
	before := map[string]map[string][]byte{}
	for _, short := range allSecrets {
		before[short] = secretData(t, client, short)
	}
	serving, err := certs.ParseCert(before[SecretAPIServer][KeyCert])
	require.NoError(t, err)
	require.Error(t, serving.VerifyHostname("10.96.7.7"))

	_, err = client.CoreV1().Services("tenants").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-apiserver"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.7.7"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, errOf(Ensure(ctx, client, testConfig(), &out)))
	assert.Contains(t, out.String(), "updated secret/tenant-a-apiserver")

	after := secretData(t, client, SecretAPIServer)
	reissued, err := certs.ParseCert(after[KeyCert])
	require.NoError(t, err)
	assert.NoError(t, reissued.VerifyHostname("10.96.7.7"))
	assert.NoError(t, reissued.VerifyHostname("tenant-a-apiserver.tenants.svc"))
	verifyChain(t, after[KeyCert], before[SecretCA][KeyCert], x509.ExtKeyUsageServerAuth)
	for _, short := range allSecrets {
		if short != SecretAPIServer {
			assert.Equal(t, before[short], secretData(t, client, short), "secret %s changed", short)
		}
	}

	out.Reset()
	require.NoError(t, errOf(Ensure(ctx, client, testConfig(), &out)))
	assert.NotContains(t, out.String(), "updated", "a certificate that names the ClusterIP is kept")
}

// An address an apiserver advertises in the tenant (its ENI address, where nodes join) joins the
// serving certificate once it is known, from the same CA; a later run that advertises the same
// addresses keeps the certificate.
func TestServingCertificateGainsTheAdvertisedAddresses(t *testing.T) {
	client := fake.NewClientset()
	ctx := context.Background()
	require.NoError(t, errOf(Ensure(ctx, client, testConfig(), io.Discard)))
	caPEM := secretData(t, client, SecretCA)[KeyCert]

	cfg := testConfig()
	cfg.AdvertisedAddresses = []net.IP{net.ParseIP("10.240.1.10"), net.ParseIP("10.240.1.11")}
	var out bytes.Buffer
	require.NoError(t, errOf(Ensure(ctx, client, cfg, &out)))
	assert.Contains(t, out.String(), "serving certificate now names 10.240.1.10, 10.240.1.11")
	serving := secretData(t, client, SecretAPIServer)[KeyCert]
	cert, err := certs.ParseCert(serving)
	require.NoError(t, err)
	for _, name := range []string{"10.240.1.10", "10.240.1.11", "10.32.0.1", "tenant-a-apiserver.tenants.svc"} {
		assert.NoError(t, cert.VerifyHostname(name))
	}
	verifyChain(t, serving, caPEM, x509.ExtKeyUsageServerAuth)

	out.Reset()
	require.NoError(t, errOf(Ensure(ctx, client, cfg, &out)))
	assert.NotContains(t, out.String(), "updated")
	assert.Equal(t, serving, secretData(t, client, SecretAPIServer)[KeyCert])
}

// With Instance, a re-issue annotates the running apiserver Pods, so that the kubelet syncs the
// new certificate into them at once; other Pods are left alone.
func TestReissuedServingCertificateIsSyncedIntoTheApiserverPods(t *testing.T) {
	ctx := context.Background()
	pod := func(name, component string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "tenants",
			Labels: map[string]string{"app.kubernetes.io/instance": "tenant-a", "app.kubernetes.io/component": component}}}
	}
	client := fake.NewClientset(pod("tenant-a-apiserver-1", "kube-apiserver"), pod("tenant-a-etcd-0", "etcd"))
	cfg := testConfig()
	cfg.Instance = "tenant-a"
	require.NoError(t, errOf(Ensure(ctx, client, cfg, io.Discard)))
	_, err := client.CoreV1().Services("tenants").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-a-apiserver"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.7.8"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, errOf(Ensure(ctx, client, cfg, &out)))
	assert.Contains(t, out.String(), "annotated pod/tenant-a-apiserver-1")
	serving, err := certs.ParseCert(secretData(t, client, SecretAPIServer)[KeyCert])
	require.NoError(t, err)
	apiserver, err := client.CoreV1().Pods("tenants").Get(ctx, "tenant-a-apiserver-1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, serving.SerialNumber.Text(16), apiserver.Annotations[AnnotationServingCertificate])
	etcd, err := client.CoreV1().Pods("tenants").Get(ctx, "tenant-a-etcd-0", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, etcd.Annotations)

	client.ClearActions()
	require.NoError(t, errOf(Ensure(ctx, client, cfg, io.Discard)))
	for _, a := range client.Actions() {
		assert.NotEqual(t, "patch", a.GetVerb(), "nothing re-issued, nothing to sync")
	}
}

func TestAPIServerCertificateNames(t *testing.T) {
	client := fake.NewClientset()
	require.NoError(t, errOf(Ensure(context.Background(), client, testConfig(), io.Discard)))
	cert, err := certs.ParseCert(secretData(t, client, SecretAPIServer)[KeyCert])
	require.NoError(t, err)
	for _, name := range []string{"tenant-a-apiserver.tenants.svc.cluster.local", "kubernetes.default.svc.tenant.local", "api.tenant-a.example"} {
		assert.NoError(t, cert.VerifyHostname(name))
	}
	for _, ip := range []string{"10.32.0.1", "203.0.113.7", "127.0.0.1"} {
		assert.NoError(t, cert.VerifyHostname(ip))
	}

	etcd, err := certs.ParseCert(secretData(t, client, SecretEtcdPeer)[KeyCert])
	require.NoError(t, err)
	assert.NoError(t, etcd.VerifyHostname("tenant-a-etcd-2.tenant-a-etcd.tenants.svc"))
	assert.Contains(t, etcd.ExtKeyUsage, x509.ExtKeyUsageClientAuth, "peers authenticate each other with it")
}

func TestInvalidConfigIsRefusedBeforeAnyWrite(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"bad CIDR":      func(c *Config) { c.TenantServiceCIDR = "10.32.0.0/33" },
		"no release":    func(c *Config) { c.Release = "" },
		"bad port":      func(c *Config) { c.APIServerPort = 70000 },
		"zero validity": func(c *Config) { c.CertValidity = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			mutate(&cfg)
			client := fake.NewClientset()
			require.Error(t, errOf(Ensure(context.Background(), client, cfg, io.Discard)))
			assert.Empty(t, client.Actions())
		})
	}
}

func verifyChain(t *testing.T, leafPEM, caPEM []byte, usage x509.ExtKeyUsage) {
	t.Helper()
	leaf, err := certs.ParseCert(leafPEM)
	require.NoError(t, err)
	ca, err := certs.ParseCert(caPEM)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}})
	assert.NoError(t, err)
}

// errOf drops Ensure's list of renewed Secrets where a test only needs its error.
func errOf(_ []string, err error) error { return err }

func TestEnsureRenewsExpiringLeavesOnly(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	start := time.Now()
	cfg := testConfig()
	cfg.CertValidity, cfg.RenewBefore = 10*time.Minute, 2*time.Minute
	cfg.Now = func() time.Time { return start }
	renewed, err := Ensure(ctx, client, cfg, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, renewed, "fresh certificates are not renewed")
	before := map[string]map[string][]byte{}
	for _, s := range allSecrets {
		before[s] = secretData(t, client, s)
	}

	cfg.Now = func() time.Time { return start.Add(5 * time.Minute) }
	renewed, err = Ensure(ctx, client, cfg, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, renewed, "5 minutes left is more than renew-before")

	cfg.Now = func() time.Time { return start.Add(9 * time.Minute) }
	var out bytes.Buffer
	renewed, err = Ensure(ctx, client, cfg, &out)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{SecretAPIServer, SecretAPIServerKubeletClient, SecretFrontProxyClient, SecretAPIServerEtcdClient,
		SecretEtcdServer, SecretEtcdPeer, SecretMetricsClient, SecretAdminKubeconfig, SecretSuperAdminKubeconfig, SecretControllerManagerKC, SecretSchedulerKC}, renewed)
	assert.Contains(t, out.String(), "renewed secret/tenant-a-apiserver")
	for _, s := range []string{SecretCA, SecretFrontProxyCA, SecretEtcdCA, SecretServiceAccount} {
		assert.Equal(t, before[s], secretData(t, client, s), "%s is never renewed", s)
	}
	fresh, err := certs.ParseCert(secretData(t, client, SecretAPIServer)[KeyCert])
	require.NoError(t, err)
	old, err := certs.ParseCert(before[SecretAPIServer][KeyCert])
	require.NoError(t, err)
	assert.NotEqual(t, old.SerialNumber, fresh.SerialNumber, "a new certificate")
	assert.False(t, fresh.NotAfter.Before(old.NotAfter), "valid at least as long (issued by the real clock)")
	assert.Equal(t, old.DNSNames, fresh.DNSNames, "with the same names")
}

// Restarts follow what runs: a component whose running Pod started before a Secret it reads at
// start was written is stale, whichever run wrote it, so a run that renewed and died before the
// restart is made good by the next, which renews nothing.
func TestStaleDeploymentsFollowWhatRuns(t *testing.T) {
	ctx := context.Background()
	running := func(name, component string, started time.Time) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "tenants",
			Labels: map[string]string{"app.kubernetes.io/instance": "tenant-a", "app.kubernetes.io/component": component}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: component,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}}}}}
	}
	client := fake.NewClientset()
	cfg := testConfig()
	cfg.Instance = "tenant-a"
	require.NoError(t, errOf(Ensure(ctx, client, cfg, io.Discard)))
	later := time.Now().Add(time.Minute)
	for _, p := range []*corev1.Pod{running("a", "kube-apiserver", later), running("c", "kube-controller-manager", later), running("s", "kube-scheduler", later)} {
		_, err := client.CoreV1().Pods("tenants").Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	stale, err := StaleDeployments(ctx, client, cfg)
	require.NoError(t, err)
	assert.Empty(t, stale, "Pods started after every Secret was written")

	// A renewal of the scheduler's kubeconfig, as a run that died before restarting left it.
	s, err := client.CoreV1().Secrets("tenants").Get(ctx, "tenant-a-"+SecretSchedulerKC, metav1.GetOptions{})
	require.NoError(t, err)
	renewedAt := later.Add(time.Minute).UTC().Format(time.RFC3339Nano)
	s.Annotations[AnnotationIssuedAt] = renewedAt
	_, err = client.CoreV1().Secrets("tenants").Update(ctx, s, metav1.UpdateOptions{})
	require.NoError(t, err)
	stale, err = StaleDeployments(ctx, client, cfg)
	require.NoError(t, err)
	assert.Equal(t, []Restart{{Deployment: "tenant-a-scheduler", IssuedAt: renewedAt}}, stale)

	// Its new Pod started after the renewal: nothing is stale any more.
	require.NoError(t, client.CoreV1().Pods("tenants").Delete(ctx, "s", metav1.DeleteOptions{}))
	_, err = client.CoreV1().Pods("tenants").Create(ctx, running("s2", "kube-scheduler", later.Add(2*time.Minute)), metav1.CreateOptions{})
	require.NoError(t, err)
	stale, err = StaleDeployments(ctx, client, cfg)
	require.NoError(t, err)
	assert.Empty(t, stale)
}

// A Pod that started in the second its Secret was written (start times have a resolution of a
// second) is current: the restart that started it is not followed by another.
func TestStaleDeploymentsIgnoreTheSecondOfWriting(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	cfg := testConfig()
	cfg.Instance = "tenant-a"
	require.NoError(t, errOf(Ensure(ctx, client, cfg, io.Discard)))
	s, err := client.CoreV1().Secrets("tenants").Get(ctx, "tenant-a-"+SecretSchedulerKC, metav1.GetOptions{})
	require.NoError(t, err)
	issuedAt, err := time.Parse(time.RFC3339Nano, s.Annotations[AnnotationIssuedAt])
	require.NoError(t, err)
	_, err = client.CoreV1().Pods("tenants").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "tenants",
		Labels: map[string]string{"app.kubernetes.io/instance": "tenant-a", "app.kubernetes.io/component": "kube-scheduler"}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "kube-scheduler",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(issuedAt.Truncate(time.Second))}}}}}},
		metav1.CreateOptions{})
	require.NoError(t, err)
	stale, err := StaleDeployments(ctx, client, cfg)
	require.NoError(t, err)
	assert.Empty(t, stale)
}

// The identities the client certificates carry: the admin's is revocable (a group the ready hook
// binds to cluster-admin), the super-admin's is system:masters, the metrics client has no group.
func TestClientIdentities(t *testing.T) {
	client := fake.NewClientset()
	require.NoError(t, errOf(Ensure(context.Background(), client, testConfig(), io.Discard)))
	caPEM := secretData(t, client, SecretCA)[KeyCert]
	for _, tc := range []struct {
		secret, key, user string
		groups            []string
	}{
		{SecretAdminKubeconfig, KeyKubeconfig, "kubernetes-admin", []string{ClusterAdminsGroup}},
		{SecretSuperAdminKubeconfig, KeyKubeconfig, "kubernetes-super-admin", []string{"system:masters"}},
		{SecretControllerManagerKC, KeyKubeconfig, "system:kube-controller-manager", nil},
		{SecretMetricsClient, KeyCert, MetricsScraperUser, nil},
	} {
		cert, _, err := certificateAndBundle(secretData(t, client, tc.secret), tc.key)
		require.NoError(t, err, tc.secret)
		assert.Equal(t, tc.user, cert.Subject.CommonName, tc.secret)
		assert.Equal(t, tc.groups, cert.Subject.Organization, tc.secret)
		verifyChain(t, (&certs.KeyPair{Cert: cert}).CertPEM(), caPEM, x509.ExtKeyUsageClientAuth)
	}
}

// The Secrets of an older taowa-hook (an admin kubeconfig in system:masters, no super-admin, no
// metrics client) converge in the next run, the pre-upgrade hook of an upgrade: the super-admin is
// written before the admin moves to the cluster-admins group (the hooks act with the one or the
// other), from the same CA; nothing else changes, and the run after changes nothing.
func TestAdminKubeconfigOfAnOlderHookMovesToTheClusterAdminsGroup(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	require.NoError(t, errOf(Ensure(ctx, client, testConfig(), io.Discard)))
	caSecret := secretData(t, client, SecretCA)
	ca, err := certs.Parse(caSecret[KeyCert], caSecret[KeyKey])
	require.NoError(t, err)
	old, err := ca.Issue(certs.Spec{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}, Validity: time.Hour,
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
	oldKubeconfig, err := certs.Kubeconfig("tenant-a", testConfig().APIServerURL(), caSecret[KeyCA], "kubernetes-admin", old)
	require.NoError(t, err)
	admin, err := client.CoreV1().Secrets("tenants").Get(ctx, "tenant-a-"+SecretAdminKubeconfig, metav1.GetOptions{})
	require.NoError(t, err)
	admin.Data[KeyKubeconfig] = oldKubeconfig
	_, err = client.CoreV1().Secrets("tenants").Update(ctx, admin, metav1.UpdateOptions{})
	require.NoError(t, err)
	for _, short := range []string{SecretSuperAdminKubeconfig, SecretMetricsClient} {
		require.NoError(t, client.CoreV1().Secrets("tenants").Delete(ctx, "tenant-a-"+short, metav1.DeleteOptions{}))
	}
	before := map[string]map[string][]byte{}
	var unchanged []string
	for _, short := range allSecrets {
		if !slices.Contains([]string{SecretAdminKubeconfig, SecretSuperAdminKubeconfig, SecretMetricsClient}, short) {
			unchanged = append(unchanged, short)
			before[short] = secretData(t, client, short)
		}
	}

	var out bytes.Buffer
	renewed, err := Ensure(ctx, client, testConfig(), &out)
	require.NoError(t, err)
	assert.Equal(t, []string{SecretAdminKubeconfig}, renewed)
	moved := strings.Index(out.String(), `renewed secret/tenant-a-admin-kubeconfig (its subject "CN=kubernetes-admin,O=system:masters" is not "CN=kubernetes-admin,O=kubeadm:cluster-admins")`)
	superAdmin := strings.Index(out.String(), "created secret/tenant-a-super-admin-kubeconfig")
	assert.True(t, superAdmin >= 0 && moved > superAdmin, "the super-admin is created, then the admin moved:\n%s", out.String())
	assert.Contains(t, out.String(), "created secret/tenant-a-metrics-client")
	cert, _, err := certificateAndBundle(secretData(t, client, SecretAdminKubeconfig), KeyKubeconfig)
	require.NoError(t, err)
	assert.Equal(t, []string{ClusterAdminsGroup}, cert.Subject.Organization)
	assert.NoError(t, cert.CheckSignatureFrom(ca.Cert))
	for _, short := range unchanged {
		assert.Equal(t, before[short], secretData(t, client, short), "secret %s changed", short)
	}

	renewed, err = Ensure(ctx, client, testConfig(), io.Discard)
	require.NoError(t, err)
	assert.Empty(t, renewed)
}
