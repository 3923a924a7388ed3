// Package skew is the version-skew gate that runs before every upgrade and rollback of a tenant
// master: a control plane moves one minor at a time, up or back, between supported versions, and
// not to a minor that would leave one of the tenant's kubelets outside the version-skew policy.
package skew

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/taowa/taowa/hooks/tenant"
	"github.com/taowa/taowa/postrender"
	"github.com/taowa/taowa/versions"
)

// Running is a version the control plane runs, and where it was read.
type Running struct {
	Source  string
	Version versions.Version
}

// RefusedError is a step the gate refuses. The hook exits with its own code for it, so that the
// Job fails at once instead of retrying a decision that cannot change.
type RefusedError struct{ Reason error }

func (e *RefusedError) Error() string { return "refused: " + e.Reason.Error() }
func (e *RefusedError) Unwrap() error { return e.Reason }

// Check returns nil when the control plane may go from every running version to target in one
// step: forward within a minor or to the next minor, back within a minor or to the previous minor.
func Check(table *versions.Table, target versions.Version, running []Running) error {
	if _, err := table.ForMinor(target.MajorMinor()); err != nil {
		return &RefusedError{Reason: fmt.Errorf("target Kubernetes %s: %w", target, err)}
	}
	for _, r := range running {
		var err error
		if target.Compare(r.Version) >= 0 {
			err = table.CheckUpgrade(r.Version, target)
		} else {
			err = table.CheckRollback(r.Version, target)
		}
		if err != nil {
			return &RefusedError{Reason: fmt.Errorf("%w (running version read from %s)", err, r.Source)}
		}
	}
	return nil
}

// Observe reads the versions the tenant runs: what its apiserver answers on /version and what its
// apiserver Deployment is set to (both matter mid-rollout, and the second is all there is when the
// apiserver is down). No Deployment means a first install, or an Argo CD first sync: nothing runs.
// warn receives what could not be read.
func Observe(ctx context.Context, meta kubernetes.Interface, namespace, fullName string, warn func(string)) ([]Running, error) {
	name := fullName + "-apiserver"
	d, err := meta.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Deployment %s/%s: %w", namespace, name, err)
	}
	var running []Running
	if s, ok := d.Spec.Template.Annotations[postrender.AnnotationKubernetesVersion]; ok {
		v, err := versions.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("Deployment %s/%s: annotation %s: %w", namespace, name, postrender.AnnotationKubernetesVersion, err)
		}
		running = append(running, Running{Source: "Deployment " + name, Version: v})
	}

	served, err := servedVersion(ctx, meta, namespace, fullName)
	switch {
	case err == nil:
		running = append(running, Running{Source: "the tenant apiserver's /version", Version: served})
	case len(running) > 0:
		warn(fmt.Sprintf("cannot read the tenant apiserver's /version (%v); judging by the Deployment alone", err))
	default:
		return nil, err
	}
	return running, nil
}

func servedVersion(ctx context.Context, meta kubernetes.Interface, namespace, fullName string) (versions.Version, error) {
	client, err := tenantClient(ctx, meta, namespace, fullName)
	if err != nil {
		return versions.Version{}, err
	}
	info, err := client.Discovery().ServerVersion()
	if err != nil {
		return versions.Version{}, fmt.Errorf("tenant /version: %w", err)
	}
	v, err := parseGitVersion(info.GitVersion)
	if err != nil {
		return versions.Version{}, fmt.Errorf("tenant /version %q: %w", info.GitVersion, err)
	}
	return v, nil
}

// parseGitVersion reads a version as Kubernetes binaries report it (the apiserver's /version, a
// Node's kubelet version): v1.37.2, possibly with a suffix such as -rc.0, -eks-1a2b or +k3s1.
func parseGitVersion(s string) (versions.Version, error) {
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	return versions.Parse(s)
}

// tenantClient is a client of the tenant's own apiserver as the hooks act: super-admin, so that
// the gate reads the Nodes even when the admins' group is not bound (a repair of a failed install).
func tenantClient(ctx context.Context, meta kubernetes.Interface, namespace, fullName string) (kubernetes.Interface, error) {
	cfg, err := tenant.AdminConfig(ctx, meta, namespace, fullName, tenant.SuperAdmin)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// IsRefused reports whether err is the gate's refusal.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}
