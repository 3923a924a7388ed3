// Package addons applies what makes a tenant cluster usable as it comes, as kubeadm's addon phase
// does: kube-proxy on every node and CoreDNS behind the kube-dns Service. The manifests are data
// (manifests/*.yaml); their versions come from the version table. Each run converges: an add-on
// turned on is applied with server-side apply, one turned off is deleted.
package addons

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"text/template"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"github.com/taowa/taowa/versions"
)

//go:embed manifests/*.yaml
var manifests embed.FS

// Config is what the add-ons of one tenant are made of.
type Config struct {
	KubernetesVersion versions.Version
	// Registry holds the kube-proxy and CoreDNS images (the chart's imageRegistry).
	Registry string
	// APIServer is the URL kube-proxy reaches the apiserver at: an address the nodes reach
	// directly (with an ENI, its address in the tenant's VPC).
	APIServer     string
	PodCIDR       netip.Prefix
	ServiceCIDR   netip.Prefix
	ClusterDomain string
	KubeProxy     bool
	// CoreDNSReplicas of the CoreDNS Deployment; 0 turns CoreDNS off.
	CoreDNSReplicas int
}

// DNSServiceIP is the kube-dns Service's address: the tenth of the Service range, as kubeadm
// chooses it and as kubelets are configured with.
func DNSServiceIP(serviceCIDR netip.Prefix) (netip.Addr, error) {
	addr := serviceCIDR.Masked().Addr()
	for range 10 {
		addr = addr.Next()
	}
	if !serviceCIDR.Contains(addr) {
		return netip.Addr{}, fmt.Errorf("service CIDR %s is too small for the DNS Service address", serviceCIDR)
	}
	return addr, nil
}

// addon is one add-on: its manifest and whether the configuration wants it.
type addon struct {
	name   string
	wanted bool
}

// Apply converges the tenant's add-ons to c through client, reporting each one on out.
func Apply(ctx context.Context, client dynamic.Interface, mapper meta.RESTMapper, c Config, out io.Writer) error {
	data, err := c.templateData()
	if err != nil {
		return err
	}
	for _, a := range []addon{{"kube-proxy", c.KubeProxy}, {"coredns", c.CoreDNSReplicas > 0}} {
		objects, err := render(a.name, data)
		if err != nil {
			return err
		}
		if a.wanted {
			err = apply(ctx, client, mapper, objects)
		} else {
			err = remove(ctx, client, mapper, objects)
		}
		if err != nil {
			return fmt.Errorf("add-on %s: %w", a.name, err)
		}
		if a.wanted {
			fmt.Fprintf(out, "add-on %s applied (%d objects)\n", a.name, len(objects))
		} else {
			fmt.Fprintf(out, "add-on %s off: removed\n", a.name)
		}
	}
	return nil
}

func (c Config) templateData() (map[string]any, error) {
	release, err := versions.Builtin().ForMinor(c.KubernetesVersion.MajorMinor())
	if err != nil {
		return nil, fmt.Errorf("add-ons for Kubernetes %s: %w", c.KubernetesVersion, err)
	}
	dns, err := DNSServiceIP(c.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	if c.KubeProxy && c.APIServer == "" {
		return nil, errors.New("add-on kube-proxy: no apiserver address for the nodes")
	}
	data := map[string]any{
		"KubernetesVersion": c.KubernetesVersion.String(),
		"CoreDNSVersion":    release.CoreDNS.String(),
		"Registry":          c.Registry,
		"APIServer":         c.APIServer,
		"PodCIDR":           c.PodCIDR.String(),
		"ClusterDomain":     c.ClusterDomain,
		"DNSServiceIP":      dns.String(),
		"CoreDNSReplicas":   c.CoreDNSReplicas,
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s %s", c.APIServer, c.PodCIDR))
	data["KubeProxyConfigHash"] = hex.EncodeToString(sum[:8])
	return data, nil
}

// render executes manifests/<name>.yaml with data and decodes its objects.
func render(name string, data map[string]any) ([]*unstructured.Unstructured, error) {
	tmpl, err := template.New(name).Option("missingkey=error").ParseFS(manifests, "manifests/"+name+".yaml")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, name+".yaml", data); err != nil {
		return nil, fmt.Errorf("render add-on %s: %w", name, err)
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(&buf, 4096)
	var objects []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, fmt.Errorf("decode add-on %s: %w", name, err)
		}
		if len(obj.Object) > 0 {
			objects = append(objects, obj)
		}
	}
}

const fieldManager = "taowa-hook"

func resourceFor(client dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return client.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
	}
	return client.Resource(mapping.Resource), nil
}

func apply(ctx context.Context, client dynamic.Interface, mapper meta.RESTMapper, objects []*unstructured.Unstructured) error {
	for _, obj := range objects {
		res, err := resourceFor(client, mapper, obj)
		if err != nil {
			return err
		}
		if _, err := res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("apply %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// remove deletes the objects in reverse order (the workload before what it uses).
func remove(ctx context.Context, client dynamic.Interface, mapper meta.RESTMapper, objects []*unstructured.Unstructured) error {
	for i := len(objects) - 1; i >= 0; i-- {
		obj := objects[i]
		res, err := resourceFor(client, mapper, obj)
		if err != nil {
			return err
		}
		if err := res.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}
