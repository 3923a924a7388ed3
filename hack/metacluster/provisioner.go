package metacluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

// localPath provisions each claim as a directory on the node and a `local` PersistentVolume pinned
// to that node, the way rancher's local-path provisioner does, without its helper Pods: on a
// single node the provisioner runs beside the kubelet and creates the directory itself.
type localPath struct{ root string }

func (p localPath) Provision(_ context.Context, opts controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	if opts.SelectedNodeName == "" {
		return nil, controller.ProvisioningFinished, errors.New("no node selected: the StorageClass must use volumeBindingMode WaitForFirstConsumer")
	}
	dir := filepath.Join(p.root, opts.PVName)
	// World-writable like a fresh disk, so that Pods running as any user can use it.
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("create volume directory: %w", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if opts.StorageClass.ReclaimPolicy != nil {
		reclaim = *opts.StorageClass.ReclaimPolicy
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   opts.PVC.Spec.AccessModes,
			VolumeMode:                    opts.PVC.Spec.VolumeMode,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: opts.PVC.Spec.Resources.Requests[corev1.ResourceStorage]},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{opts.SelectedNodeName},
				}},
			}}}},
		},
	}, controller.ProvisioningFinished, nil
}

func (p localPath) Delete(_ context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.Local == nil || filepath.Dir(pv.Spec.Local.Path) != p.root {
		return fmt.Errorf("volume %s is not a directory under %s", pv.Name, p.root)
	}
	return os.RemoveAll(pv.Spec.Local.Path)
}

// RunProvisioner serves the default StorageClass until ctx ends.
func RunProvisioner(ctx context.Context, kubeconfig, volumes string) error {
	client, err := clientFromKubeconfig(kubeconfig)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(volumes, 0o755); err != nil {
		return err
	}
	pc := controller.NewProvisionController(ctx, client, ProvisionerName, localPath{root: filepath.Clean(volumes)},
		controller.LeaderElection(false))
	pc.Run(ctx)
	return nil
}
