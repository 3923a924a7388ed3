package tenants

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"

	"github.com/taowa/taowa/release/doctor"
)

// Doctor checks the paths between the tenant master name and its nodes hop by hop (package
// doctor), through its apiserver reached as Join reaches it: at its Service's ClusterIP, or at
// server when given.
func (m *Manager) Doctor(ctx context.Context, namespace, name, server string, opts doctor.Options) (doctor.Report, error) {
	client, config, err := m.adminClient(ctx, namespace, name, server)
	if err != nil {
		return doctor.Report{}, fmt.Errorf("doctor of tenant master %s (namespace %s): %w", name, namespace, err)
	}
	clients := doctor.Clients{Kube: client, Server: config.Host}
	if _, fake := m.cluster.(TenantClients); !fake {
		if clients.Dynamic, err = dynamic.NewForConfig(config); err != nil {
			return doctor.Report{}, err
		}
	}
	return doctor.Run(ctx, clients, opts), nil
}
