package join

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
)

// discoveryTimeout bounds the one request of Discover when ctx allows longer.
const discoveryTimeout = 30 * time.Second

// DialFunc opens a connection to addr, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Discover is the node side of kubeadm's token discovery. It reads
// https://<server>/api/v1/namespaces/kube-public/configmaps/cluster-info anonymously and without
// trusting the server's certificate (the node has no CA yet), checks that the signature
// "jws-kubeconfig-<token id>" of its kubeconfig is the token's, then that the CA of that
// kubeconfig matches one of caCertHashes, and returns the CA (PEM). server is host:port. dial,
// if given (at most one), opens the connection instead of a net.Dialer: e.g. from the node's
// network namespace.
//
// errors.Is tells ErrTokenNotSigned, ErrBadSignature and ErrCAHashMismatch apart; errors name the
// server and the token id, never the token's secret.
func Discover(ctx context.Context, server string, token Token, caCertHashes []string, dial ...DialFunc) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("token discovery at %s with bootstrap token %s: %w", server, token.ID, err)
	}
	if len(dial) > 1 {
		return fail(fmt.Errorf("%d dial functions: want at most one", len(dial)))
	}
	if err := token.valid(); err != nil {
		return fail(err)
	}
	pins, err := parsePins(caCertHashes)
	if err != nil {
		return fail(err)
	}
	host, err := serverURL(server)
	if err != nil {
		return fail(err)
	}
	// Anonymous and insecure on purpose: what the response says is trusted only once the token's
	// signature and the CA pin check out.
	config := &rest.Config{
		Host:            host,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		UserAgent:       "taowa-join",
		Timeout:         discoveryTimeout,
	}
	if len(dial) == 1 {
		config.Dial = dial[0]
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fail(err)
	}
	cm, err := client.CoreV1().ConfigMaps(metav1.NamespacePublic).Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
	if err != nil {
		return fail(fmt.Errorf("read %s/%s: %w", metav1.NamespacePublic, bootstrapapi.ConfigMapClusterInfo, err))
	}
	caPEM, err := verifyClusterInfo(cm.Data, token, pins)
	if err != nil {
		return fail(err)
	}
	return caPEM, nil
}

// verifyClusterInfo checks the data of cluster-info as kubeadm does and returns the CA of its
// kubeconfig: first the token's signature, then the CA pin.
func verifyClusterInfo(data map[string]string, token Token, pins map[string]bool) ([]byte, error) {
	kubeconfig := data[bootstrapapi.KubeConfigKey]
	if kubeconfig == "" {
		return nil, fmt.Errorf("%s/%s has no %s", metav1.NamespacePublic, bootstrapapi.ConfigMapClusterInfo, bootstrapapi.KubeConfigKey)
	}
	key := bootstrapapi.JWSSignatureKeyPrefix + token.ID
	signature, ok := data[key]
	if !ok {
		return nil, fmt.Errorf("no %s: %w", key, ErrTokenNotSigned)
	}
	if !jws.DetachedTokenIsValid(signature, kubeconfig, token.ID, token.Secret) {
		return nil, fmt.Errorf("%s: %w", key, ErrBadSignature)
	}
	config, err := clientcmd.Load([]byte(kubeconfig))
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig of cluster-info: %w", err)
	}
	cluster, err := infoCluster(config)
	if err != nil {
		return nil, err
	}
	certs, err := certutil.ParseCertsPEM(cluster.CertificateAuthorityData)
	if err != nil {
		return nil, fmt.Errorf("the CA of the kubeconfig of cluster-info: %w", err)
	}
	var found []string
	for _, c := range certs {
		h := CACertHash(c)
		if pins[h] {
			return cluster.CertificateAuthorityData, nil
		}
		found = append(found, h)
	}
	return nil, fmt.Errorf("cluster-info names the CA %s: %w", strings.Join(found, ", "), ErrCAHashMismatch)
}

// infoCluster is the cluster of cluster-info's kubeconfig: its current context's, else the only one.
func infoCluster(config *clientcmdapi.Config) (*clientcmdapi.Cluster, error) {
	if c, ok := config.Contexts[config.CurrentContext]; ok {
		if cluster, ok := config.Clusters[c.Cluster]; ok {
			return cluster, nil
		}
	}
	if len(config.Clusters) == 1 {
		for _, cluster := range config.Clusters {
			return cluster, nil
		}
	}
	return nil, fmt.Errorf("the kubeconfig of cluster-info has %d clusters and no current context that names one: want one", len(config.Clusters))
}

// parsePins parses kubeadm's CA pins, "sha256:<64 hex digits>".
func parsePins(hashes []string) (map[string]bool, error) {
	if len(hashes) == 0 {
		return nil, errors.New("no CA cert hash pinned: without one the server's CA could be anybody's (want sha256:<hex>, as `taowa join` prints it)")
	}
	pins := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		format, value, ok := strings.Cut(h, ":")
		raw, err := hex.DecodeString(value)
		if !ok || !strings.EqualFold(format, "sha256") || err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("CA cert hash %q: want sha256:<64 hex digits>", h)
		}
		pins["sha256:"+hex.EncodeToString(raw)] = true
	}
	return pins, nil
}

// serverURL is the https URL of host:port.
func serverURL(server string) (string, error) {
	host, port, err := net.SplitHostPort(server)
	if err == nil {
		var n int
		if n, err = strconv.Atoi(port); err == nil && (n < 1 || n > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil || host == "" || strings.Contains(server, "/") {
		return "", fmt.Errorf("server %q: want host:port, as `kubeadm join` takes it", server)
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

// BootstrapKubeconfig is the kubelet's --bootstrap-kubeconfig: the server https://<server>, the
// CA (PEM) and the user tls-bootstrap-token-user with the token, as kubeadm writes it.
func BootstrapKubeconfig(server string, caPEM []byte, token Token) ([]byte, error) {
	host, err := serverURL(server)
	if err != nil {
		return nil, fmt.Errorf("bootstrap kubeconfig: %w", err)
	}
	if _, err := certutil.ParseCertsPEM(caPEM); err != nil {
		return nil, fmt.Errorf("bootstrap kubeconfig for %s: CA: %w", server, err)
	}
	if err := token.valid(); err != nil {
		return nil, fmt.Errorf("bootstrap kubeconfig for %s: %w", server, err)
	}
	const clusterName = "kubernetes"
	contextName := TokenUser + "@" + clusterName
	config := clientcmdapi.NewConfig()
	config.Clusters[clusterName] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: caPEM}
	config.AuthInfos[TokenUser] = &clientcmdapi.AuthInfo{Token: token.String()}
	config.Contexts[contextName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: TokenUser}
	config.CurrentContext = contextName
	out, err := clientcmd.Write(*config)
	if err != nil {
		return nil, fmt.Errorf("bootstrap kubeconfig for %s: %w", server, err)
	}
	return out, nil
}
