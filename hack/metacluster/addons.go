package metacluster

import (
	"bytes"
	"embed"
	"fmt"
	"os/exec"
	"strings"
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
	if err := c.kubectl(manifests.Bytes(), "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		return fmt.Errorf("apply addons: %w", err)
	}
	return nil
}

// kubectl runs the cluster's kubectl against it with stdin.
func (c Config) kubectl(stdin []byte, args ...string) error {
	cmd := exec.Command(c.K8sBin("kubectl"), append([]string{"--kubeconfig", c.KubeconfigPath()}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
