// Package join lets nodes join a tenant master the way `kubeadm join` does, in kubeadm's formats:
// a bootstrap token ("<id>.<secret>") stored as a Secret in the tenant, the tenant's CA pinned by
// the SHA-256 of its public key ("sha256:<hex>"), and token discovery through the JWS-signed
// kube-public/cluster-info ConfigMap.
//
// The cluster side (Prepare) creates the token and waits until the tenant's
// kube-controller-manager (controller bootstrapsigner) has signed cluster-info for it; the node
// side (Discover, BootstrapKubeconfig) checks that signature and the CA pin and writes the
// kubelet's bootstrap kubeconfig. hooks/bootstrap writes cluster-info and the RBAC bindings that
// let the token's group ask for node certificates; the controller-manager's tokencleaner deletes
// expired tokens.
package join

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	certutil "k8s.io/client-go/util/cert"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"

	"github.com/taowa/taowa/hooks/bootstrap"
)

// TokenUser is the kubeconfig user name of a bootstrap token, as kubeadm writes it.
const TokenUser = "tls-bootstrap-token-user"

// SignWait is how long Prepare waits for the signature of a new token when its context has no
// deadline.
const SignWait = 30 * time.Second

// pollInterval is how often Prepare reads cluster-info while it waits for the signature.
const pollInterval = 250 * time.Millisecond

// tokenFormat is what ParseToken accepts, in words for error messages.
const tokenFormat = "[a-z0-9]{6}.[a-z0-9]{16}"

// Token is a bootstrap token in kubeadm's format, "<id>.<secret>". The id is public (it names the
// Secret and the signature in cluster-info); the secret is a credential.
type Token struct{ ID, Secret string }

// String returns the whole token, secret included: what `kubeadm join --token` takes.
func (t Token) String() string { return bootstraputil.TokenFromIDAndSecret(t.ID, t.Secret) }

// ParseToken parses "<id>.<secret>", 6 and 16 lowercase letters or digits.
func ParseToken(s string) (Token, error) {
	if !bootstraputil.IsValidBootstrapToken(s) {
		// The input is not echoed: it may be a real token with a typo.
		return Token{}, fmt.Errorf("bootstrap token (%d characters): want the format %s, 6 and 16 lowercase letters or digits joined by a dot",
			len(s), tokenFormat)
	}
	id, secret, _ := strings.Cut(s, ".")
	return Token{ID: id, Secret: secret}, nil
}

func (t Token) valid() error {
	if !bootstraputil.IsValidBootstrapToken(t.String()) {
		return fmt.Errorf("bootstrap token with id %q: want the format %s", t.ID, tokenFormat)
	}
	return nil
}

// Parameters is what a node needs to join: printed by `taowa join`, taken by the local node.
type Parameters struct {
	// Servers are host:port of every apiserver, as the tenant's default/kubernetes EndpointSlice
	// advertises them (with an ENI, the ENI addresses).
	Servers []string `json:"servers"`
	// Token is the bootstrap token, "<id>.<secret>".
	Token string `json:"token"`
	// CACertHashes pin the tenant's CA: "sha256:<hex of the SubjectPublicKeyInfo>", kubeadm's
	// format, one per CA certificate (two while the CA rotates).
	CACertHashes []string `json:"caCertHashes"`
	// Expires is when the token stops working; the tenant's tokencleaner then deletes it.
	Expires time.Time `json:"expires"`
}

// CACertHash is kubeadm's pin of a CA: "sha256:" and the hex SHA-256 of the certificate's
// SubjectPublicKeyInfo (`kubeadm join --discovery-token-ca-cert-hash`).
func CACertHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// caCertHashes returns the pin of each certificate of a CA bundle, in order.
func caCertHashes(caPEM []byte) ([]string, error) {
	certs, err := certutil.ParseCertsPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	var hashes []string
	for _, c := range certs {
		if h := CACertHash(c); !slices.Contains(hashes, h) {
			hashes = append(hashes, h)
		}
	}
	return hashes, nil
}

// Prepare creates a bootstrap token in the tenant that client reaches, valid for ttl, and returns
// the parameters a node joins with: the apiservers the tenant's default/kubernetes EndpointSlices
// advertise, the token, the pins of caPEM and the token's expiry. It returns once
// kube-public/cluster-info carries a valid signature for the token, so that the parameters work at
// once; it waits for that until ctx's deadline, or SignWait when ctx has none. When the signature
// does not come, it deletes the token again and says why.
func Prepare(ctx context.Context, client kubernetes.Interface, caPEM []byte, ttl time.Duration, description string) (Parameters, error) {
	if ttl <= 0 {
		return Parameters{}, fmt.Errorf("bootstrap token time to live %s: want more than 0", ttl)
	}
	hashes, err := caCertHashes(caPEM)
	if err != nil {
		return Parameters{}, err
	}
	servers, err := APIServers(ctx, client)
	if err != nil {
		return Parameters{}, err
	}
	generated, err := bootstraputil.GenerateBootstrapToken()
	if err != nil {
		return Parameters{}, fmt.Errorf("generate a bootstrap token: %w", err)
	}
	token, err := ParseToken(generated)
	if err != nil {
		return Parameters{}, err
	}
	// The Secret has the expiry to the second: round up, so that a token never expires before ttl.
	expires := time.Now().Add(ttl).UTC().Add(time.Second - 1).Truncate(time.Second)
	secret := tokenSecret(token, expires, description)
	secrets := client.CoreV1().Secrets(metav1.NamespaceSystem)
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return Parameters{}, fmt.Errorf("create the bootstrap token Secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	if err := waitSigned(ctx, client, token, hashes); err != nil {
		// A token that cluster-info is not signed for lets no node join: take it back rather than
		// leave a credential nobody uses.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if derr := secrets.Delete(cleanup, secret.Name, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) {
			return Parameters{}, fmt.Errorf("%w (deleting the unused Secret %s/%s failed too: %v)", err, secret.Namespace, secret.Name, derr)
		}
		return Parameters{}, err
	}
	return Parameters{Servers: servers, Token: token.String(), CACertHashes: hashes, Expires: expires}, nil
}

// tokenSecret is the Secret kubeadm writes for a node's bootstrap token.
func tokenSecret(token Token, expires time.Time, description string) *corev1.Secret {
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:               []byte(token.ID),
		bootstrapapi.BootstrapTokenSecretKey:           []byte(token.Secret),
		bootstrapapi.BootstrapTokenExpirationKey:       []byte(expires.Format(time.RFC3339)),
		bootstrapapi.BootstrapTokenUsageAuthentication: []byte("true"),
		bootstrapapi.BootstrapTokenUsageSigningKey:     []byte("true"),
		bootstrapapi.BootstrapTokenExtraGroupsKey:      []byte(bootstrap.NodeBootstrapGroup),
	}
	if description != "" {
		data[bootstrapapi.BootstrapTokenDescriptionKey] = []byte(description)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstraputil.BootstrapTokenSecretName(token.ID), Namespace: metav1.NamespaceSystem},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data:       data,
	}
}

// APIServers returns host:port of every ready endpoint of the default/kubernetes Service, sorted.
func APIServers(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	const what = "the EndpointSlices of Service default/kubernetes"
	list, err := client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).List(ctx,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	var servers []string
	for _, slice := range list.Items {
		port := httpsPort(slice.Ports)
		if port == 0 {
			continue
		}
		for _, e := range slice.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, address := range e.Addresses {
				servers = append(servers, net.JoinHostPort(address, strconv.Itoa(int(port))))
			}
		}
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("%s list no ready apiserver (%d slices): nodes would have no address to join at; is an apiserver running?", what, len(list.Items))
	}
	slices.Sort(servers)
	return slices.Compact(servers), nil
}

// httpsPort is the port named https, else the only port; 0 if there is none.
func httpsPort(ports []discoveryv1.EndpointPort) int32 {
	for _, p := range ports {
		if p.Name != nil && *p.Name == "https" && p.Port != nil {
			return *p.Port
		}
	}
	if len(ports) == 1 && ports[0].Port != nil {
		return *ports[0].Port
	}
	return 0
}

// waitSigned polls cluster-info until it verifies with token and the pins, as Discover will.
func waitSigned(ctx context.Context, client kubernetes.Interface, token Token, hashes []string) error {
	pins, err := parsePins(hashes)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, SignWait)
		defer cancel()
	}
	start := time.Now()
	last := ErrTokenNotSigned
	err = wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		cm, err := client.CoreV1().ConfigMaps(metav1.NamespacePublic).Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
		if ctx.Err() != nil {
			return false, nil // keep the reason the last read gave, not the deadline's
		}
		if err != nil {
			last = fmt.Errorf("read %s/%s: %w", metav1.NamespacePublic, bootstrapapi.ConfigMapClusterInfo, err)
			return false, nil
		}
		_, last = verifyClusterInfo(cm.Data, token, pins)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("bootstrap token %s: %s/%s did not verify with it within %.0fs: %w; the tenant's kube-controller-manager signs cluster-info for every token (its controller bootstrapsigner): is it running? (%w)",
			token.ID, metav1.NamespacePublic, bootstrapapi.ConfigMapClusterInfo, time.Since(start).Seconds(), last, err)
	}
	return nil
}

// errors.Is on the result of Discover (and of Prepare, when it gives up) tells these apart.
var (
	// ErrTokenNotSigned: cluster-info has no signature for the token's id. The token is unknown,
	// expired, or not signed yet.
	ErrTokenNotSigned = errors.New("cluster-info has no signature for this bootstrap token: the token is unknown, expired or not signed yet")
	// ErrBadSignature: cluster-info has a signature for the token's id that the token does not
	// produce. The token's secret is wrong, or cluster-info was altered on the way.
	ErrBadSignature = errors.New("the signature of cluster-info does not match this bootstrap token: its secret is wrong, or cluster-info was altered on the way")
	// ErrCAHashMismatch: the CA that cluster-info names matches none of the pinned hashes.
	ErrCAHashMismatch = errors.New("the CA in cluster-info matches none of the pinned CA hashes")
)
