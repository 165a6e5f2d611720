#include "vm/info.hpp"

#include "vm/settings.hpp"
#include "vm/state.hpp"

namespace vbm::vm {

namespace {
// libosinfo OS ids (a family's prefix, or a Windows release's whole id) -> VirtualBox 7.0.14's
// types (Global.cpp sOSTypes). Empty id32: VirtualBox has only the 64-bit type.
struct OsMapping {
  std::string_view libosinfo; ///< ends in '/': a prefix; else the whole id
  OsType x86;
  OsType x86_64;
};
constexpr OsMapping k_os_types[] = {
    {"http://ubuntu.com/ubuntu/", {"Ubuntu", "Ubuntu (32-bit)"}, {"Ubuntu_64", "Ubuntu (64-bit)"}},
    {"http://debian.org/debian/", {"Debian", "Debian (32-bit)"}, {"Debian_64", "Debian (64-bit)"}},
    {"http://fedoraproject.org/fedora/",
     {"Fedora", "Fedora (32-bit)"},
     {"Fedora_64", "Fedora (64-bit)"}},
    {"http://redhat.com/rhel/", {"RedHat", "Red Hat (32-bit)"}, {"RedHat_64", "Red Hat (64-bit)"}},
    {"http://oracle.com/ol/",
     {"Oracle", "Oracle Linux (32-bit)"},
     {"Oracle_64", "Oracle Linux (64-bit)"}},
    {"http://opensuse.org/opensuse/",
     {"OpenSUSE", "openSUSE (32-bit)"},
     {"OpenSUSE_64", "openSUSE (64-bit)"}},
    {"http://archlinux.org/archlinux/",
     {"ArchLinux", "Arch Linux (32-bit)"},
     {"ArchLinux_64", "Arch Linux (64-bit)"}},
    {"http://gentoo.org/gentoo/", {"Gentoo", "Gentoo (32-bit)"}, {"Gentoo_64", "Gentoo (64-bit)"}},
    {"http://mageia.org/mageia/", {"Mageia", "Mageia (32-bit)"}, {"Mageia_64", "Mageia (64-bit)"}},
    {"http://microsoft.com/win/7",
     {"Windows7", "Windows 7 (32-bit)"},
     {"Windows7_64", "Windows 7 (64-bit)"}},
    {"http://microsoft.com/win/8",
     {"Windows8", "Windows 8 (32-bit)"},
     {"Windows8_64", "Windows 8 (64-bit)"}},
    {"http://microsoft.com/win/8.1",
     {"Windows81", "Windows 8.1 (32-bit)"},
     {"Windows81_64", "Windows 8.1 (64-bit)"}},
    {"http://microsoft.com/win/10",
     {"Windows10", "Windows 10 (32-bit)"},
     {"Windows10_64", "Windows 10 (64-bit)"}},
    {"http://microsoft.com/win/11", {}, {"Windows11_64", "Windows 11 (64-bit)"}},
    {"http://microsoft.com/win/2k16", {}, {"Windows2016_64", "Windows 2016 (64-bit)"}},
    {"http://microsoft.com/win/2k19", {}, {"Windows2019_64", "Windows 2019 (64-bit)"}},
    {"http://microsoft.com/win/2k22", {}, {"Windows2022_64", "Windows 2022 (64-bit)"}},
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
      const OsType& type = is_64 ? m.x86_64 : m.x86;
      return type.id.empty() ? std::nullopt : std::optional<OsType>(type);
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
  info.cpus = resolved.settings.cpus;
  auto details = hv.domain_details(vm);
  if (details.libosinfo_os) {
    info.os_type = vbox_os_type(*details.libosinfo_os, details.arch);
  }
  info.config_file = details.config_file;
  if (info.state == backend::VmState::Saved) {
    info.state_file = details.managed_save_file;
  }
  return info;
}

} // namespace vbm::vm
