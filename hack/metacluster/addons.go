package metacluster

import (
	"bytes"
	"embed"
	"fmt"
	"os/exec"
	"text/template"
)

//go:embed addons/*.yaml
var addonFiles embed.FS

// applyAddons installs CoreDNS and the default StorageClass with the cluster's own kubectl.
func (c Config) applyAddons() error {
	tmpl, err := template.ParseFS(addonFiles, "addons/*.yaml")
	if err != nil {
		return err
	}
	data := map[string]string{
		"DNSDomain":    DNSDomain,
		"DNSServiceIP": DNSServiceIP.String(),
		"Image":        "registry.k8s.io/coredns/coredns:" + c.CoreDNSVersion,
		"StorageClass": StorageClassName,
		"Provisioner":  ProvisionerName,
	}
	var manifests bytes.Buffer
	for _, t := range tmpl.Templates() {
		manifests.WriteString("---\n")
		if err := t.Execute(&manifests, data); err != nil {
			return fmt.Errorf("addon %s: %w", t.Name(), err)
		}
	}
	cmd := exec.Command(c.K8sBin("kubectl"), "--kubeconfig", c.KubeconfigPath(), "apply", "--server-side", "--force-conflicts", "-f", "-")
	cmd.Stdin = &manifests
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apply addons: %w: %s", err, out)
	}
	return nil
}
