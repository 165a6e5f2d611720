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
