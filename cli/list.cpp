// list vms | runningvms: `"name" {uuid}` lines or the showvminfo report (spec §1.7); ostypes,
// hostonlyifs, systemproperties (VBoxManageList.cpp handleList/produceList and its list*
// helpers, 7.0.14).

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

namespace vbm::cli {

namespace {
enum Opt { k_long, k_sorted, k_multiple };
constexpr OptDef k_opts[] = {
    {"--long", k_long, ArgKind::None},         {"-l", k_long, ArgKind::None},
    {"--multiple", k_multiple, ArgKind::None}, {"-m", k_multiple, ArgKind::None},
    {"--sorted", k_sorted, ArgKind::None},     {"-s", k_sorted, ArgKind::None},
};
// In VirtualBox's option-table order (s_aListOptions).
constexpr std::string_view k_lists[] = {
    "vms",         "runningvms", "ostypes",          "hostonlyifs",
    "natnetworks", "natnets",    "systemproperties", "dhcpservers"};

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

std::string ipv4_netmask(unsigned prefix) { return vm::network_part("255.255.255.255", prefix); }

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
          {"[--long] [--sorted] [--multiple] [ runningvms | vms | ostypes | hostonlyifs | "
           "natnets | systemproperties | dhcpservers ]"},
          "Options:\n"
          "  -l, --long       the showvminfo report of each VM (without a session: no\n"
          "                   running-guest lines, the balloon as configured)\n"
          "  -s, --sorted     sort by name (vms only, as VirtualBox)\n"
          "  -m, --multiple   every list named, each under a [list] header (VirtualBox's\n"
          "                   undocumented option); without it only the last list named\n"
          "                   is printed\n"
          "Lists: vms (every domain on the connection), runningvms (running and paused),\n"
          "ostypes (VirtualBox's guest OS types), hostonlyifs (always empty: KVM has no\n"
          "VirtualBox host-only adapters), systemproperties (the guest size limits and\n"
          "where libvirt keeps domain definitions), natnets or natnetworks (libvirt's NAT\n"
          "networks), dhcpservers (libvirt networks with a DHCP range).\n"};
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
