package command

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/taowa/taowa/hooks/join"
	"github.com/taowa/taowa/release/tenants"
)

func newJoin(g *globals) *cobra.Command {
	opts := tenants.JoinOptions{TTL: tenants.DefaultJoinTTL}
	cmd := &cobra.Command{
		Use:   "join NAME",
		Short: "Create a bootstrap token in a tenant master and print what a node joins it with (kubeadm's token discovery)",
		Long: `Create a bootstrap token in the tenant master, as kubeadm token create does, wait until the
tenant's controller-manager has signed kube-public/cluster-info for it, and print the join
parameters: the apiservers' addresses (as the tenant's default/kubernetes EndpointSlices advertise
them: with an ENI, the addresses in the tenant's VPC), the token, the pin of the tenant's CA and the
token's expiry. The token is a credential: it lets its holder register a node until it expires.

The tenant apiserver is reached at its Service's ClusterIP; --server names another URL (e.g. a
port-forward's local end), and the certificate is still verified.`,
		Example: `  taowa join tenant-a -n tenant-a
  taowa join tenant-a -n tenant-a --ttl 2h --description "rack 7" -o json`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := g.manager()
			if err != nil {
				return err
			}
			params, err := m.Join(cmd.Context(), g.releaseNamespace(), args[0], opts)
			if err != nil {
				return err
			}
			return writeJoin(g, params)
		},
	}
	cmd.Flags().DurationVar(&opts.TTL, "ttl", opts.TTL, "how long the token is valid")
	cmd.Flags().StringVar(&opts.Description, "description", "", `description stored with the token (default "taowa join NAME")`)
	cmd.Flags().StringVar(&opts.Server, "server", "", "API server URL to reach the tenant at instead of its Service's ClusterIP")
	return cmd
}

func writeJoin(g *globals, p join.Parameters) error {
	return write(g.stdout, g.output, p, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "servers:\t%s\n", strings.Join(p.Servers, ", "))
		fmt.Fprintf(tw, "token:\t%s  (expires %s)\n", p.Token, p.Expires.UTC().Format(time.RFC3339))
		fmt.Fprintf(tw, "ca-cert-hash:\t%s\n", strings.Join(p.CACertHashes, ", "))
		if len(p.Servers) == 0 {
			return
		}
		var pins strings.Builder
		for _, h := range p.CACertHashes {
			pins.WriteString(" --discovery-token-ca-cert-hash " + h)
		}
		fmt.Fprintln(tw, "join a node with kubeadm:")
		fmt.Fprintf(tw, "  kubeadm join %s --token %s%s\n", p.Servers[0], p.Token, pins.String())
	})
}
