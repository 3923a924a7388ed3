package command

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/taowa/taowa/release/tenants"
)

func newTop(g *globals) *cobra.Command {
	var allNamespaces, components bool
	cmd := &cobra.Command{
		Use:   "top [NAME]",
		Short: "Show the CPU and memory the tenant masters' Pods use, next to their requests and memory limits",
		Long: `Show, per tenant master (a release of charts/tenant-master), the CPU and memory its Pods use now,
from the kubelet Summary API of each node that runs one (usageNanoCores and the memory working
set, as kubectl top shows them), next to what the Pods request and their memory limits, from the
Pods' specs. --components adds a row per component (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and any hook Job running). A hibernated tenant has no Pods and uses nothing.

Only Pods that have not finished count. A Pod's request is Kubernetes' own: the sum over its
containers, or its largest init container's when that is larger (plus sidecars and overhead).
MEMORY-LIMIT says unbounded when some container has no memory limit.

Reading a node's summary needs get on nodes/proxy in the meta cluster (the request goes through the
apiserver's node proxy, once per node).`,
		Example: `  taowa top -A
  taowa top tenant-a -n tenant-a --components -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.manager()
			if err != nil {
				return err
			}
			namespace := g.releaseNamespace()
			if allNamespaces {
				namespace = ""
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			usage, err := m.Usage(cmd.Context(), namespace, name)
			if err != nil {
				return err
			}
			if usage == nil {
				usage = []tenants.TenantUsage{} // [] rather than null in JSON
			}
			if !components {
				for i := range usage {
					usage[i].Components = nil
				}
			}
			return writeTop(g, usage, components)
		},
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "show the tenant masters of every namespace")
	cmd.Flags().BoolVar(&components, "components", false, "add a row per component of each tenant master")
	return cmd
}

func writeTop(g *globals, usage []tenants.TenantUsage, components bool) error {
	return write(g.stdout, g.output, usage, func(tw *tabwriter.Writer) {
		component := ""
		if components {
			component = "COMPONENT\t"
		}
		fmt.Fprintf(tw, "NAMESPACE\tNAME\t%sCPU(m)\tCPU-REQUEST(m)\tMEMORY(Mi)\tMEMORY-REQUEST(Mi)\tMEMORY-LIMIT(Mi)\tPODS\n", component)
		row := func(u tenants.TenantUsage, component string, r tenants.Resources) {
			fmt.Fprintf(tw, "%s\t%s\t%s%d\t%d\t%s\t%s\t%s\t%d\n", u.Namespace, u.Name, component, r.CPUMillicores, r.CPURequestMillicores,
				mebibytes(r.MemoryWorkingSetBytes), mebibytes(r.MemoryRequestBytes), memoryLimit(r), r.Pods)
		}
		for _, u := range usage {
			if !components {
				row(u, "", u.Resources)
				continue
			}
			row(u, "total\t", u.Resources)
			for _, c := range u.Components {
				row(u, c.Component+"\t", c.Resources)
			}
		}
	})
}

// mebibytes rounds bytes to MiB.
func mebibytes(bytes int64) string { return strconv.FormatInt((bytes+1<<19)>>20, 10) }

// memoryLimit is the Pods' memory limit in MiB, "unbounded" when some container has none.
func memoryLimit(r tenants.Resources) string {
	if r.MemoryLimitUnbounded {
		return "unbounded"
	}
	return mebibytes(r.MemoryLimitBytes)
}
