#include "cli/vm_info.hpp"

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
} // namespace

vm::VmInfo gather_vm_info(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm,
                          vm::Session session) {
  auto info = vm::gather(hv, env.store(), vm, env.now_ms(), session);
  if (info.drift) {
    env.out.warning(fmt::format("the libvirt configuration of '{}' was changed outside vboxmanage "
                                "({}); showing libvirt's values",
                                vm.name, *info.drift));
  }
  return info;
}

std::string format_human(const vm::VmInfo& info) {
  std::string out;
  out += line("Name:", info.vm.name);
  out += line("UUID:", info.vm.uuid);
  out += line("Memory size:", fmt::format("{}MB", info.memory_mb));
  out += line("Page Fusion:", info.page_fusion ? "enabled" : "disabled");
  out += line("Large Pages:", info.large_pages ? "enabled" : "disabled");
  out += line("State:", fmt::format("{} (since {})", vm::human_state(info.state),
                                    format_state_time(info.state_since_ms)));
  out += "* Guest:\n";
  out += line("Configured memory balloon:", fmt::format("{}MB", info.balloon_mb));
  return out;
}

std::string format_machine_readable(const vm::VmInfo& info) {
  std::string out;
  out += fmt::format("name={}\n", mr_quote(info.vm.name));
  out += fmt::format("UUID={}\n", mr_quote(info.vm.uuid));
  out += fmt::format("memory={}\n", info.memory_mb);
  out += fmt::format("pagefusion={}\n", mr_quote(info.page_fusion ? "on" : "off"));
  out += fmt::format("largepages={}\n", mr_quote(info.large_pages ? "on" : "off"));
  out += fmt::format("VMState={}\n", mr_quote(vm::machine_state(info.state)));
  out += fmt::format("VMStateChangeTime={}\n", mr_quote(format_state_time(info.state_since_ms)));
  out += fmt::format("GuestMemoryBalloon={}\n", info.balloon_mb);
  return out;
}

std::string format_json(const vm::VmInfo& info) {
  // The --machinereadable keys, with JSON types: numbers, booleans for on/off.
  nlohmann::ordered_json j;
  j["name"] = info.vm.name;
  j["UUID"] = info.vm.uuid;
  j["memory"] = info.memory_mb;
  j["pagefusion"] = info.page_fusion;
  j["largepages"] = info.large_pages;
  j["VMState"] = vm::machine_state(info.state);
  j["VMStateChangeTime"] = format_state_time(info.state_since_ms);
  j["GuestMemoryBalloon"] = info.balloon_mb;
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
