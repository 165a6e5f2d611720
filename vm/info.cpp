#include "vm/info.hpp"

#include "vm/settings.hpp"
#include "vm/state.hpp"

#include <algorithm>

namespace vbm::vm {

namespace {
// libosinfo OS ids (a family's prefix, or a Windows release's whole id) -> the ids of
// VirtualBox 7.0.14's types (os_types.cpp). Empty x86: VirtualBox has only the 64-bit type.
struct OsMapping {
  std::string_view libosinfo; ///< ends in '/': a prefix; else the whole id
  std::string_view x86;
  std::string_view x86_64;
};
constexpr OsMapping k_os_types[] = {
    {"http://ubuntu.com/ubuntu/", "Ubuntu", "Ubuntu_64"},
    {"http://debian.org/debian/", "Debian", "Debian_64"},
    {"http://fedoraproject.org/fedora/", "Fedora", "Fedora_64"},
    {"http://redhat.com/rhel/", "RedHat", "RedHat_64"},
    {"http://oracle.com/ol/", "Oracle", "Oracle_64"},
    {"http://opensuse.org/opensuse/", "OpenSUSE", "OpenSUSE_64"},
    {"http://archlinux.org/archlinux/", "ArchLinux", "ArchLinux_64"},
    {"http://gentoo.org/gentoo/", "Gentoo", "Gentoo_64"},
    {"http://mageia.org/mageia/", "Mageia", "Mageia_64"},
    {"http://microsoft.com/win/7", "Windows7", "Windows7_64"},
    {"http://microsoft.com/win/8", "Windows8", "Windows8_64"},
    {"http://microsoft.com/win/8.1", "Windows81", "Windows81_64"},
    {"http://microsoft.com/win/10", "Windows10", "Windows10_64"},
    {"http://microsoft.com/win/11", "", "Windows11_64"},
    {"http://microsoft.com/win/2k16", "", "Windows2016_64"},
    {"http://microsoft.com/win/2k19", "", "Windows2019_64"},
    {"http://microsoft.com/win/2k22", "", "Windows2022_64"},
};

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

std::optional<OsType> vbox_os_type(std::string_view libosinfo_id, std::string_view arch) {
  bool is_64 = arch == "x86_64";
  if (!is_64 && arch != "i686" && arch != "i386") {
    return std::nullopt; // VirtualBox 7.0 runs x86 guests only
  }
  for (const auto& m : k_os_types) {
    bool prefix = m.libosinfo.ends_with('/');
    if (prefix ? libosinfo_id.starts_with(m.libosinfo) && libosinfo_id.size() > m.libosinfo.size()
               : libosinfo_id == m.libosinfo) {
      const auto* type = find_guest_os_type(is_64 ? m.x86_64 : m.x86);
      return type ? std::optional<OsType>(*type) : std::nullopt;
    }
  }
  return std::nullopt;
}

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
  if (info.large_pages && session == Session::Open && is_locked(info.state)) {
    info.hugetlbfs = hv.live_memory(vm).hugepages;
  }
  info.cpus = resolved.settings.cpus;
  info.free_page_reporting = resolved.settings.free_page_reporting;
  info.deflate_on_oom = resolved.settings.deflate_on_oom;
  auto details = hv.domain_details(vm);
  if (details.libosinfo_os) {
    info.os_type = vbox_os_type(*details.libosinfo_os, details.arch);
  }
  info.config_file = details.config_file;
  if (info.state == backend::VmState::Saved) {
    info.state_file = details.managed_save_file;
  }
  // An interface on a libvirt network is attached to what that network gives its guests.
  bool on_networks = std::any_of(details.nics.begin(), details.nics.end(),
                                 [](const backend::DomainNic& n) { return n.type == "network"; });
  info.adapters = network_adapters(details, on_networks ? hv.list_networks()
                                                        : std::vector<backend::NetworkInfo>{});
  return info;
}

} // namespace vbm::vm
