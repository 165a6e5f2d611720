#include "cli/vm_info.hpp"

#include "cli/vm_settings.hpp"
#include "cli/vm_state.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace vbm::cli {

namespace {
// The "since" time of a state: libvirt does not keep one, so the store remembers when
// vboxmanage first saw the domain in its current state.
std::int64_t state_since(Env& env, const store::VmKey& key, const backend::VmRef& vm,
                         backend::VmState state) {
  auto& store = env.store();
  std::string name(machine_state(state));
  if (auto rec = store.state(key); rec && rec->state == name) {
    return rec->since_ms;
  }
  store::StateRecord rec{name, env.now_ms()};
  store.put_state(key, vm.name, rec);
  return rec.since_ms;
}

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

VmInfo gather_vm_info(Env& env, backend::Hypervisor& hv, const backend::VmRef& vm) {
  VmInfo info{vm};
  info.state = hv.state(vm);
  store::VmKey key{hv.hostname(), vm.uuid};
  auto actual = hv.persistent_memory(vm);
  auto resolved = resolve_settings(recorded_settings(env.store(), key, actual), actual);
  if (resolved.drift) {
    env.out.warning(fmt::format("the libvirt configuration of '{}' was changed outside vboxmanage "
                                "({}); showing libvirt's values",
                                vm.name, *resolved.drift));
  }
  info.state_since_ms = state_since(env, key, vm, info.state);
  info.memory_mb = resolved.settings.memory_mb;
  info.balloon_mb = resolved.settings.balloon_mb;
  // While it runs, VirtualBox shows the runtime balloon (controlvm's request), spec §3.2.
  if (is_locked(info.state) && vm.id >= 0) {
    if (auto live = env.store().live_balloon(key, vm.id)) {
      info.balloon_mb = static_cast<std::uint32_t>(*live);
    }
  }
  info.page_fusion = resolved.settings.page_fusion;
  info.large_pages = resolved.settings.large_pages;
  return info;
}

std::string format_human(const VmInfo& info) {
  std::string out;
  out += line("Name:", info.vm.name);
  out += line("UUID:", info.vm.uuid);
  out += line("Memory size:", fmt::format("{}MB", info.memory_mb));
  out += line("Page Fusion:", info.page_fusion ? "enabled" : "disabled");
  out += line("Large Pages:", info.large_pages ? "enabled" : "disabled");
  out += line("State:", fmt::format("{} (since {})", human_state(info.state),
                                    format_state_time(info.state_since_ms)));
  out += "* Guest:\n";
  out += line("Configured memory balloon:", fmt::format("{}MB", info.balloon_mb));
  return out;
}

std::string format_machine_readable(const VmInfo& info) {
  std::string out;
  out += fmt::format("name={}\n", mr_quote(info.vm.name));
  out += fmt::format("UUID={}\n", mr_quote(info.vm.uuid));
  out += fmt::format("memory={}\n", info.memory_mb);
  out += fmt::format("pagefusion={}\n", mr_quote(info.page_fusion ? "on" : "off"));
  out += fmt::format("largepages={}\n", mr_quote(info.large_pages ? "on" : "off"));
  out += fmt::format("VMState={}\n", mr_quote(machine_state(info.state)));
  out += fmt::format("VMStateChangeTime={}\n", mr_quote(format_state_time(info.state_since_ms)));
  out += fmt::format("GuestMemoryBalloon={}\n", info.balloon_mb);
  return out;
}

std::string format_json(const VmInfo& info) {
  // The --machinereadable keys, with JSON types: numbers, booleans for on/off.
  nlohmann::ordered_json j;
  j["name"] = info.vm.name;
  j["UUID"] = info.vm.uuid;
  j["memory"] = info.memory_mb;
  j["pagefusion"] = info.page_fusion;
  j["largepages"] = info.large_pages;
  j["VMState"] = machine_state(info.state);
  j["VMStateChangeTime"] = format_state_time(info.state_since_ms);
  j["GuestMemoryBalloon"] = info.balloon_mb;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

} // namespace vbm::cli
