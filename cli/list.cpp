// list vms | runningvms: `"name" {uuid}` lines or the showvminfo report (spec §1.7); ostypes,
// bridgedifs, hostonlyifs, natnets, hostinfo, systemproperties, dhcpservers (VBoxManageList.cpp
// handleList/produceList and its list* helpers, 7.0.14).

#include "backend/local_host.hpp"
#include "cli/app.hpp"
#include "cli/errors.hpp"
#include "cli/getopt.hpp"
#include "cli/vm_info.hpp"
#include "vm/network.hpp"
#include "vm/os_types.hpp"
#include "vm/settings.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

namespace vbm::cli {

namespace {
enum Opt { k_long, k_sorted, k_multiple };
constexpr OptDef k_opts[] = {
    {"--long", k_long, ArgKind::None},         {"-l", k_long, ArgKind::None},
    {"--multiple", k_multiple, ArgKind::None}, {"-m", k_multiple, ArgKind::None},
    {"--sorted", k_sorted, ArgKind::None},     {"-s", k_sorted, ArgKind::None},
};
// In VirtualBox's option-table order (s_aListOptions).
constexpr std::string_view k_lists[] = {"vms",        "runningvms",       "ostypes",     "hostifs",
                                        "bridgedifs", "hostonlyifs",      "natnetworks", "natnets",
                                        "hostinfo",   "systemproperties", "dhcpservers"};

[[noreturn]] void syntax(const std::string& msg, UsageStyle style = UsageStyle::Syntax) {
  throw UsageError(style, "list", msg, k_exit_syntax);
}

// produceList for vms and runningvms (VBoxManageList.cpp).
void list_vms(std::string_view kind, bool long_form, bool sorted, Env& env) {
  auto& hv = env.hypervisor(Access::ReadOnly);
  auto vms = hv.list_vms();
  if (kind == "runningvms") {
    std::erase_if(vms,
                  [&](const backend::VmRef& vm) { return !vm::is_running_for_list(hv.state(vm)); });
  }
  if (sorted && kind == "vms") {
    // Only `vms` sorts (by name); runningvms ignores --sorted.
    std::sort(vms.begin(), vms.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  } else {
    // VirtualBox lists in registration order; libvirt's order is a hash walk that changes
    // between calls. Closest stable order: running domains as started, then the rest by name.
    std::sort(vms.begin(), vms.end(), [](const auto& a, const auto& b) {
      if ((a.id < 0) != (b.id < 0)) {
        return a.id >= 0;
      }
      return a.id >= 0 ? a.id < b.id : a.name < b.name;
    });
  }
  for (const auto& vm : vms) {
    if (long_form) {
      // showVMInfo(…, VMINFO_STANDARD) without a session: the registered machine's report.
      env.out.out(format_human(gather_vm_info(env, hv, vm, vm::Session::None)));
    } else {
      env.out.out(fmt::format("\"{}\" {{{}}}\n", vm.name, vm.uuid));
    }
  }
}

// produceList's kListOsTypes: every IVirtualBox::GuestOSTypes entry, a blank line after each.
void list_os_types(Env& env) {
  for (const auto& t : vm::guest_os_types()) {
    env.out.out(fmt::format("ID:          {}\nDescription: {}\nFamily ID:   {}\nFamily Desc: {}\n"
                            "64 bit:      {}\n\n",
                            t.id, t.description, t.family_id, t.family_description,
                            t.is_64bit ? "true" : "false"));
  }
}

std::string ipv4_netmask(unsigned prefix) { return vm::network_part("255.255.255.255", prefix); }

// NetIf-linux.cpp getInterfaceInfo's GUID: the interface name's bytes (16, zero-padded) as an
// RTUUID, its version and variant bits set, its node the MAC; printed as %RTuuid does.
std::string interface_guid(const std::string& name, const std::string& mac) {
  std::array<unsigned char, 16> b{};
  std::copy_n(name.begin(), std::min(name.size(), b.size()), b.begin());
  std::array<unsigned, 6> m{};
  if (std::sscanf(mac.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4],
                  &m[5]) == 6) {
    for (std::size_t i = 0; i < m.size(); ++i) {
      b[10 + i] = static_cast<unsigned char>(m[i]);
    }
  }
  b[8] = static_cast<unsigned char>((b[8] & 0x3fU) | 0x80U); // u8ClockSeqHiAndReserved
  b[7] = static_cast<unsigned char>((b[7] & 0x0fU) | 0x40U); // u16TimeHiAndVersion (LE)
  // RTUUID's Gen fields are little-endian integers on x86: time_low, time_mid, time_hi.
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
                     "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11],
                     b[12], b[13], b[14], b[15]);
}

// listNetworkInterfaces(…, bridged): the host interfaces libvirt knows (a guest is bridged to
// one with <interface type='bridge'> or 'direct'), but not those without a MAC (loopback,
// tunnels: VirtualBox lists Ethernet ones only). Addresses are libvirt's; where its interface
// backend has none (udev) and the host is this machine, they are read as VirtualBox reads them.
// The interface with the default route comes first, as in NetIfList; the rest by name.
void list_bridged_interfaces(Env& env) {
  auto& hv = env.hypervisor(Access::ReadOnly);
  auto ifaces = hv.list_host_interfaces();
  std::erase_if(ifaces,
                [](const auto& i) { return i.mac.empty() || i.mac == "00:00:00:00:00:00"; });
  std::optional<backend::LocalHost> local;
  std::vector<std::string> order;
  if (hv.is_local()) {
    local.emplace(env.services.host_root);
    order = local->net_interfaces();
  }
  auto rank = [&](const std::string& name) {
    return order.empty() || order.front() != name ? 1 : 0;
  };
  std::sort(ifaces.begin(), ifaces.end(), [&](const auto& a, const auto& b) {
    return std::pair(rank(a.name), a.name) < std::pair(rank(b.name), b.name);
  });
  for (auto& i : ifaces) {
    bool wireless = false;
    if (local && !i.ipv4_address && !i.ipv6_address) {
      auto found = local->interface_addresses(i.name);
      i.ipv4_address = found.ipv4_address;
      i.ipv4_prefix = found.ipv4_prefix;
      i.ipv6_address = found.ipv6_address;
      i.ipv6_prefix = found.ipv6_prefix;
      wireless = found.wireless;
    }
    env.out.out(fmt::format(
        "Name:            {0}\nGUID:            {1}\nDHCP:            Disabled\n"
        "IPAddress:       {2}\nNetworkMask:     {3}\nIPV6Address:     {4}\n"
        "IPV6NetworkMaskPrefixLength: {5}\nHardwareAddress: {6}\nMediumType:      Ethernet\n"
        "Wireless:        {7}\nStatus:          {8}\nVBoxNetworkName: "
        "HostInterfaceNetworking-{0}\n\n",
        i.name, interface_guid(i.name, i.mac), i.ipv4_address.value_or("0.0.0.0"),
        ipv4_netmask(i.ipv4_address ? i.ipv4_prefix : 0), i.ipv6_address.value_or(""),
        i.ipv6_address ? i.ipv6_prefix : 0, i.mac, wireless ? "Yes" : "No",
        i.active ? "Up" : "Down"));
  }
}

// listHostInfo: the lines libvirt answers for any connection. Left out: the nested paging,
// unrestricted guest and vmsave/vmload features (VT-x/AMD-V details libvirt does not report),
// the processor descriptions (libvirt has a CPU model name, not the CPUID brand string), and the
// host OS (not in libvirt's capabilities).
void list_host_info(Env& env) {
  auto& hv = env.hypervisor(Access::ReadOnly);
  auto host = hv.host_info();
  auto now = env.now_ms();
  std::time_t secs = static_cast<std::time_t>(now / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  std::string text = fmt::format(
      "Host Information:\n\nHost time: {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z\n"
      "Processor online count: {}\nProcessor count: {}\nProcessor online core count: {}\n"
      "Processor core count: {}\nProcessor supports HW virtualization: {}\n"
      "Processor supports PAE: {}\nProcessor supports long mode: {}\n",
      utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
      (now % 1000) * 1000000, host.cpus_online, host.cpus_present, host.cores_online,
      host.cores_present, yes(host.kvm), yes(host.pae), yes(host.long_mode));
  if (!host.kvm || host.nested_kvm) {
    text += fmt::format("Processor supports nested HW virtualization: {}\n",
                        yes(host.kvm && *host.nested_kvm));
  }
  for (unsigned i = 0; i < host.cpus_present; ++i) {
    text += host.cpu_mhz != 0 ? fmt::format("Processor#{} speed: {} MHz\n", i, host.cpu_mhz)
                              : fmt::format("Processor#{} speed: unknown\n", i);
  }
  // RTSystemQueryTotalRam is MemTotal: libvirt's node memory statistics where the driver has
  // them (its node info counts the NUMA nodes' memory, which can be less), else node info.
  auto node = hv.node_stats();
  text +=
      fmt::format("Memory size: {} MByte\n", node.mem_total_kib.value_or(host.memory_kib) / 1024);
  if (node.mem_free_kib) {
    auto available =
        *node.mem_free_kib + node.mem_buffers_kib.value_or(0) + node.mem_cached_kib.value_or(0);
    text += fmt::format("Memory available: {} MByte\n", available / 1024);
  }
  env.out.out(text);
}

// listSystemProperties: only the properties a KVM host answers truthfully, in VirtualBox's
// order and padding. The guest sizes are the ones modifyvm accepts; the machine folder is
// where libvirt keeps domain definitions (left out where that is not known). VirtualBox's
// video RAM, monitor, disk, port, controller, extension pack, audio, proxy and log lines have
// no meaning for a libvirt domain and are left out.
void list_system_properties(Env& env) {
  auto host = env.hypervisor(Access::ReadOnly).host_info();
  auto limits = vm::guest_limits(host.is_64bit);
  std::string text =
      fmt::format("API version:                     7_0\n"
                  "Minimum guest RAM size:          {} Megabytes\n"
                  "Maximum guest RAM size:          {} Megabytes\n"
                  "Minimum guest CPU count:         {}\n"
                  "Maximum guest CPU count:         {}\n",
                  limits.ram_min_mb, limits.ram_max_mb, limits.cpus_min, limits.cpus_max);
  if (host.machine_folder) {
    text += fmt::format("Default machine folder:          {}\n", *host.machine_folder);
  }
  env.out.out(text);
}

// libvirt has no registration order: networks by name.
std::vector<backend::NetworkInfo> networks_by_name(Env& env) {
  auto nets = env.hypervisor(Access::ReadOnly).list_networks();
  std::sort(nets.begin(), nets.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return nets;
}

// listNATNetworks / printNATNetwork (VBoxManageNATNetwork.cpp): libvirt's NAT networks (forward
// mode nat with an IPv4 address); Enabled (= active) only with --long. libvirt has no port
// forwarding or loopback mappings, so --long adds no lists.
void list_nat_networks(bool long_form, Env& env) {
  for (const auto& n : networks_by_name(env)) {
    if (n.forward_mode != "nat" || !n.ipv4_address) {
      continue;
    }
    std::string text = fmt::format("Name:         {}\n", n.name);
    if (long_form) {
      text += fmt::format("Enabled:      {}\n", n.active ? "Yes" : "No");
    }
    std::string v6 =
        n.ipv6_address
            ? fmt::format("{}/{}", vm::network_part(*n.ipv6_address, n.ipv6_prefix), n.ipv6_prefix)
            : "";
    text +=
        fmt::format("Network:      {}/{}\nGateway:      {}\nDHCP Server:  {}\nIPv6:         {}\n"
                    "IPv6 Prefix:  {}\nIPv6 Default: {}\n\n",
                    vm::network_part(*n.ipv4_address, n.ipv4_prefix), n.ipv4_prefix,
                    *n.ipv4_address, n.dhcp_start ? "Yes" : "No", n.ipv6_address ? "Yes" : "No", v6,
                    n.ipv6_address ? "Yes" : "No");
    env.out.out(text);
  }
}

// showDhcpConfig with nothing configured but `options` (VirtualBox's "legacy" encoded ones).
std::string dhcp_config(const std::string& options) {
  return "    minLeaseTime:     default\n"
         "    defaultLeaseTime: default\n"
         "    maxLeaseTime:     default\n"
         "    Forced options:   None\n"
         "    Suppressed opts.: None\n" +
         (options.empty() ? std::string("    DHCP options:     None\n") : options);
}

// listDhcpServers: each libvirt network whose IPv4 <ip> has a DHCP range (libvirt's dnsmasq
// serves it on the host's address), a blank line between servers. The global configuration has
// VirtualBox's one fixed option, the subnet mask (1); libvirt's <host mac ip> entries are
// VirtualBox's MAC-scoped individual configurations with a fixed address.
void list_dhcp_servers(Env& env) {
  bool first = true;
  for (const auto& n : networks_by_name(env)) {
    if (!n.ipv4_address || !n.dhcp_start) {
      continue;
    }
    std::string mask = ipv4_netmask(n.ipv4_prefix);
    std::string text = first ? "" : "\n";
    first = false;
    text += fmt::format("NetworkName:    {}\nDhcpd IP:       {}\nLowerIPAddress: {}\n"
                        "UpperIPAddress: {}\nNetworkMask:    {}\nEnabled:        {}\n"
                        "Global Configuration:\n",
                        n.name, *n.ipv4_address, *n.dhcp_start, n.dhcp_end.value_or(""), mask,
                        n.active ? "Yes" : "No");
    text += dhcp_config(fmt::format("      {:3}/legacy: {}\n", 1, mask));
    text += "Groups:               None\n";
    if (n.dhcp_hosts.empty()) {
      text += "Individual Configs:   None\n";
    }
    for (const auto& [mac, ip] : n.dhcp_hosts) {
      text += fmt::format("Individual Config:    MAC {}\n    Fixed Address:    {}\n", mac, ip);
      text += dhcp_config("");
    }
    env.out.out(text);
  }
}

void produce_list(std::string_view kind, bool long_form, bool sorted, Env& env) {
  if (kind == "ostypes") {
    list_os_types(env);
  } else if (kind == "hostifs" || kind == "bridgedifs") {
    list_bridged_interfaces(env);
  } else if (kind == "hostinfo") {
    list_host_info(env);
  } else if (kind == "hostonlyifs") {
    // listNetworkInterfaces(…, HostOnly): VirtualBox's host-only adapters (vboxnetN) do not
    // exist on a KVM host, and libvirt's isolated networks are not them (Vagrant removes the
    // host-only interfaces no VM uses): the list is empty.
  } else if (kind == "systemproperties") {
    list_system_properties(env);
  } else if (kind == "natnetworks" || kind == "natnets") {
    list_nat_networks(long_form, env);
  } else if (kind == "dhcpservers") {
    list_dhcp_servers(env);
  } else {
    list_vms(kind, long_form, sorted, env);
  }
}
} // namespace

Grammar list_grammar() { return {k_opts, {}, k_lists}; }

CommandHelp list_help() {
  return {"list",
          "view system information and VM configuration details",
          {"[--long] [--sorted] [--multiple] [ runningvms | vms | ostypes | bridgedifs | "
           "hostonlyifs | natnets | hostinfo | systemproperties | dhcpservers ]"},
          "Options:\n"
          "  -l, --long       the showvminfo report of each VM (without a session: no\n"
          "                   running-guest lines, the balloon as configured)\n"
          "  -s, --sorted     sort by name (vms only, as VirtualBox)\n"
          "  -m, --multiple   every list named, each under a [list] header (VirtualBox's\n"
          "                   undocumented option); without it only the last list named\n"
          "                   is printed\n"
          "Lists: vms (every domain on the connection), runningvms (running and paused),\n"
          "ostypes (VirtualBox's guest OS types), bridgedifs or hostifs (the host's network\n"
          "interfaces), hostonlyifs (always empty: KVM has no\n"
          "VirtualBox host-only adapters), systemproperties (the guest size limits and\n"
          "where libvirt keeps domain definitions), natnets or natnetworks (libvirt's NAT\n"
          "networks), hostinfo (the host's CPUs and memory), dhcpservers (libvirt networks\n"
          "with a DHCP range).\n"};
}

int run_list(std::span<const std::string> args, Env& env) {
  // handleList: the list names are options of its table, matched in any order with the
  // flags; without --multiple the last one named is the one produced.
  bool long_form = false;
  bool sorted = false;
  bool multiple = false;
  bool first = true;
  std::optional<std::string> kind;
  auto produce_now = [&](std::string_view header) {
    if (!first) {
      env.out.out("\n");
    }
    first = false;
    env.out.out(fmt::format("[{}]\n", header));
    produce_list(*kind, long_form, sorted, env);
  };
  GetOpt opts(args, k_opts);
  try {
    while (auto item = opts.next()) {
      if (item->def && item->def->id == k_multiple) {
        multiple = true;
        if (kind) {
          // -m after a list: that list again, under the header of the option just matched.
          produce_now("--multiple");
        }
      } else if (item->def) {
        (item->def->id == k_long ? long_form : sorted) = true;
      } else if (std::find(std::begin(k_lists), std::end(k_lists), item->text) ==
                 std::end(k_lists)) {
        syntax(fmt::format("Unknown subcommand \"{}\".", item->text));
      } else {
        kind = item->text;
        if (multiple) {
          produce_now(*kind);
        }
      }
    }
  } catch (const GetOptError& e) {
    syntax(e.what(), UsageStyle::GetOpt);
  }
  if (!kind) {
    syntax("Missing subcommand for \"list\" command.");
  }
  if (!multiple) {
    produce_list(*kind, long_form, sorted, env);
  }
  return k_exit_success;
}

} // namespace vbm::cli
