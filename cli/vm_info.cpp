#include "cli/vm_info.hpp"

#include "balloon/settings.hpp"
#include "vm/extradata.hpp"
#include "vm/state.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ctime>

namespace vbm::cli {

namespace {
// VirtualBox's outputMachineReadableString: backslash-escape '\' and '"'.
std::string mr_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
  return out;
}

// SHOW_*_PROP: the label padded to 28 columns, one space, the value.
std::string line(std::string_view label, std::string_view value) {
  return fmt::format("{:<28} {}\n", label, value);
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ",") + item;
  }
  return out;
}

// showVMInfo's 7.0 encryption line (GetEncryptionSettings fails for an unencrypted VM): a fixed
// 16-column label, printed as is in both modes. vboxkvm has no encrypted VMs.
constexpr std::string_view k_encryption = "Encryption:     disabled\n";

// showVMInfo's network adapter section (VBoxManageInfo.cpp, the loop over getMaxNics): the
// attachment's machine-readable word and its indexed key, the human words.
std::string_view mr_attachment(vm::Attachment a) {
  switch (a) {
  case vm::Attachment::Nat: return "nat";
  case vm::Attachment::Bridged: return "bridged";
  case vm::Attachment::Internal: return "intnet";
  case vm::Attachment::HostOnly: return "hostonly";
  case vm::Attachment::Generic: return "Generic"; // sic
  }
  return "unknown";
}

std::string_view mr_attachment_key(vm::Attachment a) {
  switch (a) {
  case vm::Attachment::Nat: return "natnet";
  case vm::Attachment::Bridged: return "bridgeadapter";
  case vm::Attachment::Internal: return "intnet";
  case vm::Attachment::HostOnly: return "hostonlyadapter";
  case vm::Attachment::Generic: return "generic";
  }
  return "unknown";
}

std::string human_attachment(const vm::NetworkAdapter& n) {
  switch (n.attachment) {
  case vm::Attachment::Nat: return "NAT";
  case vm::Attachment::Bridged: return fmt::format("Bridged Interface '{}'", n.attached_to);
  case vm::Attachment::Internal: return fmt::format("Internal Network '{}'", n.attached_to);
  case vm::Attachment::HostOnly: return fmt::format("Host-only Interface '{}'", n.attached_to);
  case vm::Attachment::Generic: // no generic properties: " { " and " }" around nothing
    return fmt::format("Generic '{}' {{  }}", n.attached_to);
  }
  return "unknown";
}

// NAT's engine settings: VirtualBox prints 64 for the socket and window sizes it leaves at 0.
constexpr unsigned k_nat_default_kb = 64;

std::string human_adapters(const vm::VmInfo& info) {
  std::string out;
  unsigned slot = 0;
  for (const auto& n : info.adapters) {
    std::string label = fmt::format("NIC {}:", ++slot);
    if (!n.enabled) {
      out += fmt::format("{:<28} disabled\n", label);
      continue;
    }
    out += fmt::format("{:<28} MAC: {}, Attachment: {}, Cable connected: {}, Trace: off (file: "
                       "none), Type: {}, Reported speed: 0 Mbps, Boot priority: {}, Promisc "
                       "Policy: deny, Bandwidth group: none\n",
                       label, n.mac, human_attachment(n), n.cable_connected ? "on" : "off", n.type,
                       n.boot_priority);
    if (n.attachment == vm::Attachment::Nat) {
      out += fmt::format("NIC {} Settings:  MTU: {}, Socket (send: {}, receive: {}), TCP Window "
                         "(send:{}, receive: {})\n",
                         slot, n.mtu, k_nat_default_kb, k_nat_default_kb, k_nat_default_kb,
                         k_nat_default_kb);
    }
  }
  return out;
}

// The values are printed raw (%ls), as VirtualBox prints them.
std::string machine_readable_adapters(const vm::VmInfo& info) {
  std::string out;
  unsigned slot = 0;
  for (const auto& n : info.adapters) {
    ++slot;
    if (!n.enabled) {
      out += fmt::format("nic{}=\"none\"\n", slot);
      continue;
    }
    std::string attached = n.attached_to;
    if (n.attachment == vm::Attachment::Nat && attached.empty()) {
      attached = "nat"; // the NAT engine's default network
    }
    out += fmt::format("{}{}=\"{}\"\n", mr_attachment_key(n.attachment), slot, attached);
    out += fmt::format("macaddress{0}=\"{1}\"\ncableconnected{0}=\"{2}\"\nnic{0}=\"{3}\"\n"
                       "nictype{0}=\"{4}\"\nnicspeed{0}=\"0\"\n",
                       slot, n.mac, n.cable_connected ? "on" : "off", mr_attachment(n.attachment),
                       n.type);
    if (n.attachment == vm::Attachment::Nat) {
      out += fmt::format("mtu=\"{0}\"\nsockSnd=\"{1}\"\nsockRcv=\"{1}\"\ntcpWndSnd=\"{1}\"\n"
                         "tcpWndRcv=\"{1}\"\n",
                         n.mtu, k_nat_default_kb);
    }
  }
  return out;
}
} // namespace

vm::VmInfo gather_vm_info(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm,
                          vm::Session session) {
  auto info = vm::gather(hv, env.store(), vm, env.now_ms(), session);
  // A VM's groups are vboxkvm's extra data (libvirt has none); VirtualBox's default is "/".
  auto groups =
      vm::get_extradata(env.store(), vm::ExtraDataScope::machine(hv, vm), balloon::k_key_groups);
  if (groups && !balloon::split_groups(*groups).empty()) {
    info.groups = balloon::split_groups(*groups);
  }
  if (info.drift) {
    env.out.warning(fmt::format("the libvirt configuration of '{}' was changed outside vboxmanage "
                                "({}); showing libvirt's values",
                                vm.name, *info.drift));
  }
  return info;
}

bool has_session(const vm::VmInfo& info) {
  return info.session == vm::Session::Open && vm::is_locked(info.state);
}

// showVMInfo (VBoxManageInfo.cpp), in its order, with the fields a KVM domain answers.
std::string format_human(const vm::VmInfo& info) {
  std::string out;
  out += line("Name:", info.vm.name);
  out += k_encryption;
  out += line("Groups:", joined(info.groups));
  if (info.os_type) {
    out += line("Guest OS:", info.os_type->description);
  }
  out += line("UUID:", info.vm.uuid);
  if (info.config_file) {
    out += line("Config file:", *info.config_file);
  }
  out += line("Memory size:", fmt::format("{}MB", info.memory_mb));
  out += line("Page Fusion:", info.page_fusion ? "enabled" : "disabled");
  out += line("Number of CPUs:", fmt::format("{}", info.cpus));
  out += line("Large Pages:", info.large_pages ? "enabled" : "disabled");
  if (info.hugetlbfs) { // vboxkvm's: what the running VM really got
    out += line("Large Pages backing:", *info.hugetlbfs ? "hugetlbfs" : "transparent huge pages");
  }
  out += line("Free Page Reporting:", info.free_page_reporting ? "enabled" : "disabled");
  out += line("Balloon Deflate on OOM:", info.deflate_on_oom ? "enabled" : "disabled");
  out += line("State:", fmt::format("{} (since {})", vm::human_state(info.state),
                                    format_state_time(info.state_since_ms)));
  out += human_adapters(info);
  out += "* Guest:\n";
  out += line("Configured memory balloon:", fmt::format("{}MB", info.balloon_mb));
  if (has_session(info)) {
    // IGuest: the OS type falls back to the machine's id without Additions; no Additions run
    // on KVM, so run level 0 (None) and no facilities.
    if (info.os_type) {
      out += line("OS type:", info.os_type->id);
    }
    out += line("Additions run level:", "0");
    out += line("Guest Facilities:", "<none>");
  }
  out += "\n";
  return out;
}

std::string format_machine_readable(const vm::VmInfo& info) {
  std::string out;
  out += fmt::format("name={}\n", mr_quote(info.vm.name));
  out += k_encryption;
  out += fmt::format("groups={}\n", mr_quote(joined(info.groups)));
  if (info.os_type) {
    out += fmt::format("ostype={}\n", mr_quote(info.os_type->description));
  }
  out += fmt::format("UUID={}\n", mr_quote(info.vm.uuid));
  if (info.config_file) {
    out += fmt::format("CfgFile={}\n", mr_quote(*info.config_file));
  }
  out += fmt::format("memory={}\n", info.memory_mb);
  out += fmt::format("pagefusion={}\n", mr_quote(info.page_fusion ? "on" : "off"));
  out += fmt::format("cpus={}\n", info.cpus);
  out += fmt::format("largepages={}\n", mr_quote(info.large_pages ? "on" : "off"));
  if (info.hugetlbfs) {
    out += fmt::format("largepagesbacking={}\n", mr_quote(*info.hugetlbfs ? "hugetlbfs" : "thp"));
  }
  out += fmt::format("freepagereporting={}\n", mr_quote(info.free_page_reporting ? "on" : "off"));
  out += fmt::format("balloondeflateonoom={}\n", mr_quote(info.deflate_on_oom ? "on" : "off"));
  out += fmt::format("VMState={}\n", mr_quote(vm::machine_state(info.state)));
  out += fmt::format("VMStateChangeTime={}\n", mr_quote(format_state_time(info.state_since_ms)));
  if (info.state_file) {
    out += fmt::format("VMStateFile=\"{}\"\n", *info.state_file); // raw: %ls, not escaped
  }
  out += machine_readable_adapters(info);
  out += fmt::format("GuestMemoryBalloon={}\n", info.balloon_mb);
  if (has_session(info)) {
    if (info.os_type) {
      out += fmt::format("GuestOSType={}\n", mr_quote(info.os_type->id));
    }
    out += "GuestAdditionsRunLevel=0\n";
  }
  return out;
}

std::string format_json(const vm::VmInfo& info) {
  // The --machinereadable keys, with JSON types: numbers, booleans for on/off, groups as an
  // array. (Encryption is no key there, only a raw line: left out.)
  nlohmann::ordered_json j;
  j["name"] = info.vm.name;
  j["groups"] = info.groups;
  if (info.os_type) {
    j["ostype"] = info.os_type->description;
  }
  j["UUID"] = info.vm.uuid;
  if (info.config_file) {
    j["CfgFile"] = *info.config_file;
  }
  j["memory"] = info.memory_mb;
  j["pagefusion"] = info.page_fusion;
  j["cpus"] = info.cpus;
  j["largepages"] = info.large_pages;
  if (info.hugetlbfs) {
    j["largepagesbacking"] = *info.hugetlbfs ? "hugetlbfs" : "thp";
  }
  j["freepagereporting"] = info.free_page_reporting;
  j["balloondeflateonoom"] = info.deflate_on_oom;
  j["VMState"] = vm::machine_state(info.state);
  j["VMStateChangeTime"] = format_state_time(info.state_since_ms);
  if (info.state_file) {
    j["VMStateFile"] = *info.state_file;
  }
  unsigned slot = 0;
  for (const auto& n : info.adapters) { // the indexed --machinereadable keys
    ++slot;
    if (!n.enabled) {
      j[fmt::format("nic{}", slot)] = "none";
      continue;
    }
    j[fmt::format("{}{}", mr_attachment_key(n.attachment), slot)] =
        n.attachment == vm::Attachment::Nat && n.attached_to.empty() ? "nat" : n.attached_to;
    j[fmt::format("macaddress{}", slot)] = n.mac;
    j[fmt::format("cableconnected{}", slot)] = n.cable_connected;
    j[fmt::format("nic{}", slot)] = mr_attachment(n.attachment);
    j[fmt::format("nictype{}", slot)] = n.type;
    j[fmt::format("nicspeed{}", slot)] = 0;
  }
  j["GuestMemoryBalloon"] = info.balloon_mb;
  if (has_session(info)) {
    if (info.os_type) {
      j["GuestOSType"] = info.os_type->id;
    }
    j["GuestAdditionsRunLevel"] = 0;
  }
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string format_state_time(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}000000", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

} // namespace vbm::cli
