#include "vm/info.hpp"

#include "vm/settings.hpp"
#include "vm/state.hpp"

namespace vbm::vm {

namespace {
std::int64_t state_since(store::SettingsStore& store, const store::VmKey& key,
                         const backend::VmRef& vm, backend::VmState state, std::int64_t now_ms) {
  std::string name(machine_state(state));
  if (auto rec = store.state(key); rec && rec->state == name) {
    return rec->since_ms;
  }
  store::StateRecord rec{name, now_ms};
  store.put_state(key, vm.name, rec);
  return rec.since_ms;
}
} // namespace

VmInfo gather(backend::Hypervisor& hv, store::SettingsStore& store, const backend::VmRef& vm,
              std::int64_t now_ms, Session session) {
  VmInfo info;
  info.vm = vm;
  info.session = session;
  info.state = hv.state(vm);
  store::VmKey key{hv.hostname(), vm.uuid};
  auto resolved = resolve_settings(store, key, hv.persistent_memory(vm));
  info.drift = resolved.drift;
  info.state_since_ms = state_since(store, key, vm, info.state, now_ms);
  info.memory_mb = resolved.settings.memory_mb;
  info.balloon_mb = resolved.settings.balloon_mb;
  // While it runs, VirtualBox shows the runtime balloon (controlvm's request), spec §3.2.
  if (session == Session::Open && is_locked(info.state) && vm.id >= 0) {
    if (auto live = store.live_balloon(key, vm.id)) {
      info.balloon_mb = static_cast<std::uint32_t>(*live);
    }
  }
  info.page_fusion = resolved.settings.page_fusion;
  info.large_pages = resolved.settings.large_pages;
  return info;
}

} // namespace vbm::vm
