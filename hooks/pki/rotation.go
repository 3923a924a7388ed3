package pki

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/taowa/taowa/internal/certs"
)

// A CA rotation replaces the cluster, front-proxy and etcd CAs in three phases, each applied by a
// run of Ensure and followed by a restart of the components (RestartsForPhase), so that no
// component ever meets a certificate it does not trust:
//
//   - trust:  a new CA is created next to each old one, and every trust bundle (ca.crt of each
//     Secret, the kubeconfigs' certificate-authority-data) holds both.
//   - switch: the new CA becomes the signer; every leaf certificate and kubeconfig is re-issued
//     from it. Both CAs are still trusted, so old client certificates keep working.
//   - finish: the bundles hold the new CA alone; the old CA is gone.
//
// A rotation is named by an ID that the CA Secrets record with the phase reached
// (AnnotationCARotation), which makes every phase idempotent: repeating it (a retried Job, every
// later `helm upgrade` with the same values, an Argo CD sync) changes nothing, and an earlier
// phase of the same rotation (a `helm rollback` of the values) is a no-op, never a step back.
type CARotation struct {
	ID    string
	Phase string
}

// The phases of a CA rotation, in order.
const (
	PhaseTrust  = "trust"
	PhaseSwitch = "switch"
	PhaseFinish = "finish"
)

var phases = []string{PhaseTrust, PhaseSwitch, PhaseFinish}

// phaseIndex is a phase's position from 1; 0 for none or an unknown phase.
func phaseIndex(phase string) int { return slices.Index(phases, phase) + 1 }

// Keys of a CA Secret during a rotation's trust phase: the new CA, not yet the signer.
const (
	KeyNextCert = "next.crt"
	KeyNextKey  = "next.key"
)

// AnnotationCARotation on a CA Secret records "<id>/<phase>" of the last CA rotation applied to it.
const AnnotationCARotation = "taowa.io/ca-rotation"

// rotationIDPattern keeps IDs usable in annotations and flags.
var rotationIDPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$`)

func (r CARotation) validate() error {
	if r.ID == "" && r.Phase == "" {
		return nil
	}
	if !rotationIDPattern.MatchString(r.ID) {
		return fmt.Errorf("CA rotation ID %q: use lower-case letters, digits, '-' and '.' (at most 63)", r.ID)
	}
	if phaseIndex(r.Phase) == 0 {
		return fmt.Errorf("CA rotation %q: phase %q is not one of %s, %s, %s", r.ID, r.Phase, PhaseTrust, PhaseSwitch, PhaseFinish)
	}
	return nil
}

func (r CARotation) String() string { return r.ID + "/" + r.Phase }

func parseRotation(annotation string) CARotation {
	id, phase, _ := strings.Cut(annotation, "/")
	return CARotation{ID: id, Phase: phase}
}

// advanceRotation takes CA Secret secret to the requested phase, one step at a time, or refuses
// with what to do instead. Each step is one update of the Secret, so a run killed between two CAs
// leaves each CA in a whole phase, and the next run completes the others.
func (s *store) advanceRotation(ctx context.Context, secret *corev1.Secret) (*corev1.Secret, error) {
	want := s.cfg.CARotation
	ref := fmt.Sprintf("secret %s/%s", s.cfg.Namespace, secret.Name)
	for {
		done := parseRotation(secret.Annotations[AnnotationCARotation])
		var next string
		switch {
		case done.ID == want.ID && phaseIndex(done.Phase) >= phaseIndex(want.Phase):
			return secret, nil
		case done.ID == want.ID:
			next = phases[phaseIndex(done.Phase)] // done.Phase is before want.Phase, so not the last
			if next != want.Phase {
				return nil, fmt.Errorf("%s: CA rotation %q is in phase %s; phase %s must be applied (and rolled out) before %s",
					ref, want.ID, done.Phase, next, want.Phase)
			}
		case done.ID != "" && done.Phase != PhaseFinish:
			return nil, fmt.Errorf("%s: CA rotation %q is in phase %s; finish it (phase %s) before starting rotation %q",
				ref, done.ID, done.Phase, PhaseFinish, want.ID)
		case want.Phase != PhaseTrust:
			return nil, fmt.Errorf("%s: CA rotation %q has not started; its first phase is %s, not %s", ref, want.ID, PhaseTrust, want.Phase)
		default:
			next = PhaseTrust
		}
		if err := s.applyPhase(secret, next); err != nil {
			return nil, fmt.Errorf("%s: CA rotation %q phase %s: %w", ref, want.ID, next, err)
		}
		if secret.Annotations == nil {
			secret.Annotations = map[string]string{}
		}
		secret.Annotations[AnnotationCARotation] = CARotation{ID: want.ID, Phase: next}.String()
		var err error
		if secret, err = s.updateCA(ctx, secret, "CA rotation "+want.ID+": phase "+next); err != nil {
			return nil, err
		}
	}
}

// applyPhase changes the data of a CA Secret for one phase.
func (s *store) applyPhase(secret *corev1.Secret, phase string) error {
	data := secret.Data
	switch phase {
	case PhaseTrust:
		current, err := certs.ParseCert(data[KeyCert])
		if err != nil {
			return err
		}
		next, err := certs.NewCA(current.Subject.CommonName, s.cfg.CAValidity)
		if err != nil {
			return err
		}
		key, err := next.KeyPEM()
		if err != nil {
			return err
		}
		data[KeyNextCert], data[KeyNextKey] = next.CertPEM(), key
		data[KeyCA] = append(append([]byte{}, data[KeyCert]...), next.CertPEM()...)
	case PhaseSwitch:
		if len(data[KeyNextCert]) == 0 || len(data[KeyNextKey]) == 0 {
			return fmt.Errorf("the new CA (%s, %s) is missing", KeyNextCert, KeyNextKey)
		}
		data[KeyCert], data[KeyKey] = data[KeyNextCert], data[KeyNextKey]
		delete(data, KeyNextCert)
		delete(data, KeyNextKey)
	case PhaseFinish:
		data[KeyCA] = data[KeyCert]
	}
	return nil
}

// Workloads a CA rotation phase restarts, by name suffix: they read a trust bundle or a
// certificate only at start. etcd reloads its own certificates on every handshake but its trusted
// CAs only at start, so it restarts when the bundles change (trust, finish), not on switch.
var (
	rotationDeployments = []string{"apiserver", "controller-manager", "scheduler"}
	rotationStatefulSet = "etcd"
)

// RestartsForPhase returns the Deployments and StatefulSets (full names) that must restart after
// the given phase of a CA rotation was applied.
func (c Config) RestartsForPhase(phase string) (deployments, statefulSets []string) {
	for _, d := range rotationDeployments {
		deployments = append(deployments, c.Release+"-"+d)
	}
	if phase != PhaseSwitch {
		statefulSets = append(statefulSets, c.Release+"-"+rotationStatefulSet)
	}
	return deployments, statefulSets
}
