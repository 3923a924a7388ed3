package eni

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/taowa/taowa/cni-eni/inventory"
)

// errLinkNotFound means no link of the current namespace carries the ENI's MAC.
var errLinkNotFound = errors.New("no link with the ENI's MAC address")

// linkChange is a single RTM_SETLINK request. The kernel applies a namespace
// move first and then the MTU, MAC, name and flags of the same message, so
// one request moves a device into a namespace under its final name and
// brings it up there: no temporary namespace, no second move, and no window
// in which the device sits in the target under a foreign name.
type linkChange struct {
	index   int
	netnsFD int // target namespace; -1 keeps the device where it is
	name    string
	mtu     int
	mac     net.HardwareAddr
	up      bool
}

// apply sends the request from the calling thread's network namespace,
// which must be the one holding the device.
func (c linkChange) apply() error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(c.index)
	if c.up {
		msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	}
	req.AddData(msg)
	if c.netnsFD >= 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, binary.NativeEndian.AppendUint32(nil, uint32(c.netnsFD))))
	}
	if c.name != "" {
		req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(c.name)))
	}
	if c.mtu > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MTU, binary.NativeEndian.AppendUint32(nil, uint32(c.mtu))))
	}
	if len(c.mac) > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_ADDRESS, c.mac))
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// findLink returns the link of the current namespace that carries mac,
// looking at name first because it is usually right and a by-name lookup
// is cheaper than listing every link. A link whose MAC was changed is
// still found through its permanent address.
func findLink(mac net.HardwareAddr, name string) (netlink.Link, error) {
	if name != "" {
		link, err := netlinksafe.LinkByName(name)
		if err == nil && hasMAC(link, mac) {
			return link, nil
		}
	}
	links, err := netlinksafe.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	for _, link := range links {
		if hasMAC(link, mac) {
			return link, nil
		}
	}
	return nil, fmt.Errorf("%w %s", errLinkNotFound, mac)
}

func hasMAC(link netlink.Link, mac net.HardwareAddr) bool {
	attrs := link.Attrs()
	return bytes.Equal(attrs.HardwareAddr, mac) || len(attrs.PermHWAddr) > 0 && bytes.Equal(attrs.PermHWAddr, mac)
}

// sandboxRoutes is the routing the plugin installs in the sandbox for an
// ENI: its address, the VPC CIDRs through the gateway, and a source rule
// sending everything from the ENI address to a table whose default route
// is the gateway, so replies leave through the ENI while the primary
// interface keeps the main default route.
type sandboxRoutes struct {
	eni      *inventory.ENI
	table    int
	priority int
}

func (r sandboxRoutes) configure(link netlink.Link) error {
	index := link.Attrs().Index
	gateway := net.IP(r.eni.Gateway.AsSlice())
	subnet := r.eni.Address.Masked()
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(r.eni.Address)}); err != nil {
		return fmt.Errorf("add address %s: %w", r.eni.Address, err)
	}
	for _, cidr := range r.eni.VPCCIDRs {
		if cidr.Masked() == subnet {
			continue // the address already brought the connected route
		}
		route := &netlink.Route{LinkIndex: index, Dst: ipNet(cidr.Masked()), Gw: gateway}
		if err := netlink.RouteAdd(route); err != nil {
			return fmt.Errorf("add route %s via %s: %w", cidr, gateway, err)
		}
	}
	tableRoutes := []*netlink.Route{
		{LinkIndex: index, Dst: ipNet(subnet), Src: net.IP(r.eni.Address.Addr().AsSlice()), Scope: netlink.SCOPE_LINK, Table: r.table},
		{LinkIndex: index, Dst: ipNet(defaultRoute(r.eni.Gateway)), Gw: gateway, Table: r.table},
	}
	for _, route := range tableRoutes {
		if err := netlink.RouteAdd(route); err != nil {
			return fmt.Errorf("add route %s to table %d: %w", route.Dst, r.table, err)
		}
	}
	if err := netlink.RuleAdd(r.rule()); err != nil {
		return fmt.Errorf("add rule from %s lookup %d: %w", r.eni.Address.Addr(), r.table, err)
	}
	return nil
}

// removeRule deletes the source rule. Routes need no cleanup: the kernel
// drops every route through a device when it leaves the namespace.
func (r sandboxRoutes) removeRule() error {
	err := netlink.RuleDel(r.rule())
	if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("delete rule from %s lookup %d: %w", r.eni.Address.Addr(), r.table, err)
	}
	return nil
}

func (r sandboxRoutes) rule() *netlink.Rule {
	rule := netlink.NewRule()
	rule.Family = family(r.eni.Address.Addr())
	rule.Src = ipNet(netip.PrefixFrom(r.eni.Address.Addr(), r.eni.Address.Addr().BitLen()))
	rule.Table = r.table
	rule.Priority = r.priority
	return rule
}

// check verifies that the link carries the address, routes and rule that
// configure installs.
func (r sandboxRoutes) check(link netlink.Link) error {
	index := link.Attrs().Index
	gateway := net.IP(r.eni.Gateway.AsSlice())
	fam := family(r.eni.Address.Addr())
	addrs, err := netlinksafe.AddrList(link, fam)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	if !containsAddr(addrs, r.eni.Address) {
		return fmt.Errorf("address %s is missing", r.eni.Address)
	}
	want := make([]*netlink.Route, 0, len(r.eni.VPCCIDRs)+1)
	for _, cidr := range r.eni.VPCCIDRs {
		if cidr.Masked() != r.eni.Address.Masked() {
			want = append(want, &netlink.Route{LinkIndex: index, Dst: ipNet(cidr.Masked()), Gw: gateway, Table: unix.RT_TABLE_MAIN})
		}
	}
	want = append(want, &netlink.Route{LinkIndex: index, Dst: ipNet(defaultRoute(r.eni.Gateway)), Gw: gateway, Table: r.table})
	for _, route := range want {
		filter := &netlink.Route{Table: route.Table, Dst: route.Dst}
		got, err := netlinksafe.RouteListFiltered(fam, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_DST)
		if err != nil {
			return fmt.Errorf("list routes to %s: %w", route.Dst, err)
		}
		if !containsRoute(got, route) {
			return fmt.Errorf("route %s via %s dev %s in table %d is missing", route.Dst, gateway, link.Attrs().Name, route.Table)
		}
	}
	rules, err := netlinksafe.RuleListFiltered(fam, r.rule(), netlink.RT_FILTER_SRC|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list rules: %w", err)
	}
	if len(rules) == 0 {
		return fmt.Errorf("rule from %s lookup %d is missing", r.eni.Address.Addr(), r.table)
	}
	return nil
}

func containsAddr(addrs []netlink.Addr, want netip.Prefix) bool {
	for _, a := range addrs {
		if a.IPNet.String() == ipNet(want).String() {
			return true
		}
	}
	return false
}

func containsRoute(routes []netlink.Route, want *netlink.Route) bool {
	for _, r := range routes {
		if r.LinkIndex == want.LinkIndex && r.Gw.Equal(want.Gw) {
			return true
		}
	}
	return false
}

func family(addr netip.Addr) int {
	if addr.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func defaultRoute(like netip.Addr) netip.Prefix {
	if like.Is4() {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
}

// ipNet converts a prefix to net.IPNet keeping the host bits, as netlink
// wants for addresses.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
