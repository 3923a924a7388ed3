package command

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/taowa/taowa/release/doctor"
)

func newDoctor(g *globals) *cobra.Command {
	var server string
	var opts doctor.Options
	cmd := &cobra.Command{
		Use:   "doctor NAME",
		Short: "Check the paths between a tenant master and its nodes, hop by hop",
		Long: `Check, through the tenant's own apiserver, every hop between the master and its nodes:
you to the apiserver; each node's kubelet to the apiserver (its heartbeat Lease is fresh); the
apiserver to each kubelet (/healthz through the node proxy: logs, exec and port-forward take this
path); the apiserver to Pods on the nodes (CoreDNS's /ready through the Pod proxy); the apiserver to
every admission webhook Service and aggregated API; and DNS (kube-dns has ready endpoints). With an
ENI, the apiserver's hops go over the ENI, inside the tenant's VPC. It exits non-zero and names the
hops that fail.`,
		Example: `  taowa doctor tenant-a -n tenant-a
  taowa doctor tenant-a -n tenant-a -o json`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.manager()
			if err != nil {
				return err
			}
			report, err := m.Doctor(cmd.Context(), g.releaseNamespace(), args[0], server, opts)
			if err != nil {
				return err
			}
			if err := writeDoctor(g, report); err != nil {
				return err
			}
			if failed := report.Failed(); len(failed) > 0 {
				names := make([]string, len(failed))
				for i, h := range failed {
					names[i] = h.Name()
				}
				return fmt.Errorf("%d of %d hops failed: %s", len(failed), len(report.Hops), strings.Join(names, "; "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "API server URL to reach the tenant at instead of its Service's ClusterIP")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "how long each hop may take (default 5s)")
	return cmd
}

func writeDoctor(g *globals, r doctor.Report) error {
	return write(g.stdout, g.output, r, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "HOP\tRESULT\tDETAIL")
		for _, h := range r.Hops {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", h.Name(), h.Result, h.Detail)
		}
	})
}
