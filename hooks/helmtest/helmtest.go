// Package helmtest is what `helm test` checks on a tenant master: its apiserver serves the
// expected version and lets a restricted identity do exactly what it was granted, no more.
package helmtest

import (
	"context"
	"fmt"
	"io"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/taowa/taowa/hooks/bootstrap"
	"github.com/taowa/taowa/versions"
)

// Run uses the admin identity only to mint a ten-minute token for the test ServiceAccount that
// `taowa-hook ready` created, then does every check with that token.
func Run(ctx context.Context, admin *rest.Config, expect versions.Version, out io.Writer) error {
	adminClient, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return err
	}
	tr, err := adminClient.CoreV1().ServiceAccounts(bootstrap.TestNamespace).CreateToken(ctx, bootstrap.TestServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for ServiceAccount %s/%s (created by the ready hook): %w", bootstrap.TestNamespace, bootstrap.TestServiceAccount, err)
	}
	restricted := rest.AnonymousClientConfig(admin)
	restricted.BearerToken = tr.Status.Token
	client, err := kubernetes.NewForConfig(restricted)
	if err != nil {
		return err
	}

	info, err := client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("/version: %w", err)
	}
	if got := strings.TrimPrefix(info.GitVersion, "v"); got != expect.String() {
		return fmt.Errorf("tenant apiserver serves Kubernetes %s, the release asks for %s", got, expect)
	}
	fmt.Fprintf(out, "ok: /version is v%s\n", expect)

	cms := client.CoreV1().ConfigMaps(bootstrap.TestNamespace)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "helm-test-"}, Data: map[string]string{"written-by": "helm test"},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create a ConfigMap in %s as %s: %w", bootstrap.TestNamespace, bootstrap.TestServiceAccount, err)
	}
	got, err := cms.Get(ctx, cm.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read ConfigMap %s/%s back: %w", bootstrap.TestNamespace, cm.Name, err)
	}
	if got.Data["written-by"] != "helm test" {
		return fmt.Errorf("ConfigMap %s/%s reads back %v", bootstrap.TestNamespace, cm.Name, got.Data)
	}
	if err := cms.Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete ConfigMap %s/%s: %w", bootstrap.TestNamespace, cm.Name, err)
	}
	fmt.Fprintf(out, "ok: ConfigMap %s/%s created, read and deleted\n", bootstrap.TestNamespace, cm.Name)

	// The identity must be restricted: reading Secrets anywhere is not part of its grant.
	_, err = client.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		return fmt.Errorf("listing Secrets in kube-system as %s: want Forbidden, got %v", bootstrap.TestServiceAccount, err)
	}
	fmt.Fprintf(out, "ok: the test identity may not read Secrets\n")
	return nil
}
