#include "backend/libvirt_hypervisor.hpp"

#include "backend/domain_xml.hpp"
#include "backend/local_host.hpp"
#include "sys/signals.hpp"

#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pugixml.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <utility>

namespace vbm::backend {

namespace {
// The QEMU driver's configDir when libvirtd runs privileged (qemu_conf.c
// virQEMUDriverConfigNew: SYSCONFDIR/libvirt/qemu): where qemu:///system keeps definitions.
constexpr std::string_view k_qemu_config_dir = "/etc/libvirt/qemu";

// libvirt prints every error to stderr by default; we report them ourselves (tools/vsh.c).
void silent_error_handler(void*, virErrorPtr) {}

// The connection closed (libvirtd went away or keepalive gave up): wait_domain_events says so.
void on_close(virConnectPtr, int, void* opaque) { *static_cast<bool*>(opaque) = true; }

[[noreturn]] void throw_last(const std::string& context) {
  virErrorPtr err = virGetLastError();
  int code = err ? err->code : VIR_ERR_INTERNAL_ERROR;
  std::string text = err && err->message ? err->message : "unknown libvirt error";
  bool lost = code == VIR_ERR_SYSTEM_ERROR || code == VIR_ERR_RPC || code == VIR_ERR_INVALID_CONN ||
              code == VIR_ERR_NO_CONNECT;
  throw BackendError(fmt::format("{}: {}", context, text), lost);
}

struct DomainDeleter {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
using Domain = std::unique_ptr<virDomain, DomainDeleter>;

struct CharsDeleter {
  void operator()(char* p) const { free(p); } // NOLINT: libvirt allocates with malloc
};
using Chars = std::unique_ptr<char, CharsDeleter>;

std::string uuid_of(virDomainPtr dom) {
  char buf[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString(dom, buf) < 0) {
    throw_last("failed to read a domain's UUID");
  }
  return buf;
}

VmRef ref_of(virDomainPtr dom) {
  const char* name = virDomainGetName(dom);
  unsigned int id = virDomainGetID(dom);
  return VmRef{name ? name : "", uuid_of(dom),
               id == static_cast<unsigned int>(-1) ? -1 : static_cast<int>(id)};
}
} // namespace

struct LibvirtHypervisor::Impl {
  virConnectPtr conn = nullptr;
  std::optional<std::string> hostname;
  std::optional<HostInfo> host;
  // Domain events (watch_domain_events): callback IDs, what arrived, whether the link closed.
  bool events = false;
  int lifecycle_callback = -1;
  int balloon_callback = -1;
  bool close_callback = false;
  bool closed = false;
  std::vector<DomainEvent> pending;

  Domain open(const VmRef& vm) {
    virDomainPtr d = virDomainLookupByUUIDString(conn, vm.uuid.c_str());
    if (!d) {
      throw_last(fmt::format("failed to find domain '{}'", vm.name));
    }
    return Domain(d);
  }
};

LibvirtHypervisor::LibvirtHypervisor(const std::optional<std::string>& uri, bool read_only,
                                     bool events)
    : m_impl(std::make_unique<Impl>()) {
  virSetErrorFunc(nullptr, silent_error_handler);
  if (events) {
    // libvirt's own poll loop; it must exist before the connection opens to carry its events.
    static const bool registered = virEventRegisterDefaultImpl() == 0;
    if (!registered) {
      throw_last("failed to set up libvirt's event loop");
    }
    m_impl->events = true;
  }
  const char* name = uri ? uri->c_str() : nullptr;
  m_impl->conn = read_only ? virConnectOpenReadOnly(name) : virConnectOpen(name);
  if (!m_impl->conn) {
    throw_last(fmt::format("failed to connect to the hypervisor{}",
                           uri ? fmt::format(" at '{}'", *uri) : std::string()));
  }
}

LibvirtHypervisor::~LibvirtHypervisor() {
  if (m_impl->conn) {
    if (m_impl->lifecycle_callback >= 0) {
      virConnectDomainEventDeregisterAny(m_impl->conn, m_impl->lifecycle_callback);
    }
    if (m_impl->balloon_callback >= 0) {
      virConnectDomainEventDeregisterAny(m_impl->conn, m_impl->balloon_callback);
    }
    if (m_impl->close_callback) {
      virConnectUnregisterCloseCallback(m_impl->conn, on_close);
    }
    virConnectClose(m_impl->conn);
  }
}

std::string LibvirtHypervisor::hostname() {
  if (!m_impl->hostname) {
    Chars name(virConnectGetHostname(m_impl->conn));
    if (!name) {
      throw_last("failed to read the hypervisor's host name");
    }
    m_impl->hostname = name.get();
  }
  return *m_impl->hostname;
}

HostInfo LibvirtHypervisor::host_info() {
  if (!m_impl->host) {
    Chars caps(virConnectGetCapabilities(m_impl->conn));
    if (!caps) {
      throw_last("failed to read the hypervisor's capabilities");
    }
    HostInfo host;
    // virNodeGetCPUMap: the CPUs present, and which are online.
    unsigned char* map = nullptr;
    unsigned int online = 0;
    int present = virNodeGetCPUMap(m_impl->conn, &map, &online, 0);
    std::vector<bool> is_online;
    if (present > 0) {
      host.cpus_present = static_cast<unsigned>(present);
      host.cpus_online = online;
      for (int i = 0; i < present; ++i) {
        is_online.push_back(((map[i / 8] >> (i % 8)) & 1) != 0);
      }
    }
    free(map);           // NOLINT: libvirt allocates with malloc
    virResetLastError(); // a driver without a CPU map: node info's count below
    parse_host_capabilities(caps.get(), is_online, host);
    virNodeInfo info;
    if (virNodeGetInfo(m_impl->conn, &info) == 0) {
      host.memory_kib = info.memory;
      host.cpu_mhz = info.mhz;
      if (host.cpus_present == 0) {
        host.cpus_present = host.cpus_online = info.cpus;
      }
      if (host.cores_present == 0) {
        // No topology in the capabilities: node info's cores; an offline CPU takes at most
        // one core with it.
        host.cores_present = info.nodes * info.sockets * info.cores;
        host.cores_online = std::min(host.cores_present, host.cpus_online);
      }
    }
    if (host.kvm) {
      Chars domcaps(
          virConnectGetDomainCapabilities(m_impl->conn, nullptr, nullptr, nullptr, "kvm", 0));
      if (domcaps) {
        host.nested_kvm = parse_nested_virt(domcaps.get());
      }
    }
    virResetLastError();
    if (uri() == "qemu:///system") {
      host.machine_folder = std::string(k_qemu_config_dir);
    }
    m_impl->host = host;
  }
  return *m_impl->host;
}

std::vector<VmRef> LibvirtHypervisor::list_vms() {
  virDomainPtr* doms = nullptr;
  int n = virConnectListAllDomains(m_impl->conn, &doms, 0);
  if (n < 0) {
    throw_last("failed to list domains");
  }
  std::vector<Domain> owned;
  owned.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    owned.emplace_back(doms[i]);
  }
  free(doms); // NOLINT: libvirt allocates with malloc
  std::vector<VmRef> out;
  out.reserve(owned.size());
  for (const auto& d : owned) {
    out.push_back(ref_of(d.get()));
  }
  return out;
}

std::optional<VmRef> LibvirtHypervisor::lookup_uuid(const std::string& uuid) {
  Domain d(virDomainLookupByUUIDString(m_impl->conn, uuid.c_str()));
  if (!d) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
      return std::nullopt;
    }
    throw_last(fmt::format("failed to look up domain {{{}}}", uuid));
  }
  return ref_of(d.get());
}

std::optional<VmRef> LibvirtHypervisor::lookup_name(const std::string& name) {
  Domain d(virDomainLookupByName(m_impl->conn, name.c_str()));
  if (!d) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
      return std::nullopt;
    }
    throw_last(fmt::format("failed to look up domain '{}'", name));
  }
  return ref_of(d.get());
}

VmState LibvirtHypervisor::state(const VmRef& vm) {
  auto d = m_impl->open(vm);
  int st = 0;
  int reason = 0;
  if (virDomainGetState(d.get(), &st, &reason, 0) < 0) {
    throw_last(fmt::format("failed to read the state of '{}'", vm.name));
  }
  switch (st) {
  case VIR_DOMAIN_RUNNING:
  case VIR_DOMAIN_BLOCKED: return VmState::Running;
  case VIR_DOMAIN_PAUSED:
  case VIR_DOMAIN_PMSUSPENDED: return VmState::Paused;
  case VIR_DOMAIN_SHUTDOWN: return VmState::Stopping;
  case VIR_DOMAIN_CRASHED: return VmState::Aborted;
  case VIR_DOMAIN_SHUTOFF: {
    int saved = virDomainHasManagedSaveImage(d.get(), 0);
    if (saved < 0) {
      throw_last(fmt::format("failed to check '{}' for a saved state", vm.name));
    }
    return saved ? VmState::Saved : VmState::PoweredOff;
  }
  default: return VmState::Unknown;
  }
}

DomainMemory LibvirtHypervisor::persistent_memory(const VmRef& vm) {
  auto d = m_impl->open(vm);
  Chars xml(virDomainGetXMLDesc(d.get(), VIR_DOMAIN_XML_INACTIVE));
  if (!xml) {
    throw_last(fmt::format("failed to read the configuration of '{}'", vm.name));
  }
  return parse_domain_memory(xml.get());
}

DomainDetails LibvirtHypervisor::domain_details(const VmRef& vm) {
  auto d = m_impl->open(vm);
  Chars xml(virDomainGetXMLDesc(d.get(), VIR_DOMAIN_XML_INACTIVE));
  if (!xml) {
    throw_last(fmt::format("failed to read the configuration of '{}'", vm.name));
  }
  DomainDetails details = parse_domain_os(xml.get());
  auto nics = parse_domain_nics(xml.get());
  details.machine = std::move(nics.machine);
  details.nics = std::move(nics.nics);
  // The QEMU driver's directories when libvirtd runs privileged (qemu_conf.c
  // virQEMUDriverConfigNew: configDir SYSCONFDIR/libvirt/qemu, saveDir
  // LOCALSTATEDIR/lib/libvirt/qemu/save; virDomainConfigFile "%s/%s.xml",
  // qemuDomainManagedSavePath "%s/%s.save"). Elsewhere (a session or remote daemon, another
  // driver) they are not known here.
  if (uri() != "qemu:///system") {
    return details;
  }
  int persistent = virDomainIsPersistent(d.get());
  if (persistent < 0) {
    throw_last(fmt::format("failed to read whether '{}' is persistent", vm.name));
  }
  if (persistent == 1) {
    details.config_file = fmt::format("{}/{}.xml", k_qemu_config_dir, vm.name);
  }
  int saved = virDomainHasManagedSaveImage(d.get(), 0);
  if (saved < 0) {
    throw_last(fmt::format("failed to check '{}' for a saved state", vm.name));
  }
  if (saved == 1) {
    details.managed_save_file = fmt::format("/var/lib/libvirt/qemu/save/{}.save", vm.name);
  }
  return details;
}

void LibvirtHypervisor::set_persistent_memory(const VmRef& vm, const DomainMemory& mem) {
  auto d = m_impl->open(vm);
  // SECURE keeps secrets such as VNC passwords, which would otherwise be lost on redefinition.
  auto read_xml = [&] {
    Chars xml(virDomainGetXMLDesc(d.get(), VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
    if (!xml) {
      throw_last(fmt::format("failed to read the configuration of '{}'", vm.name));
    }
    return std::string(xml.get());
  };
  std::string xml = read_xml();
  DomainMemory now = parse_domain_memory(xml);
  if (now.nosharepages != mem.nosharepages || now.hugepages != mem.hugepages ||
      now.free_page_reporting != mem.free_page_reporting || now.autodeflate != mem.autodeflate) {
    // <memoryBacking> and <memballoon>'s attributes have no call of their own: the whole definition
    // is written, everything
    // (<vcpu> too) in one definition. So that an edit made meanwhile by someone else (virsh edit)
    // is not undone, the definition is read again just before it is written, and the edit redone on
    // what is there if anything changed.
    for (int attempt = 0;; ++attempt) {
      std::string updated = apply_domain_memory(xml, mem);
      sys::pause_point("define");
      std::string again = read_xml();
      if (again != xml && attempt < 5) {
        xml = std::move(again);
        continue;
      }
      Domain defined(
          virDomainDefineXMLFlags(m_impl->conn, updated.c_str(), VIR_DOMAIN_DEFINE_VALIDATE));
      if (!defined) {
        throw_last(fmt::format("failed to save the configuration of '{}'", vm.name));
      }
      return;
    }
  }
  // <memory> and <currentMemory>, and <vcpu> and its current=, have libvirt's own calls, which
  // change only them in whatever the definition is when they arrive. Order: the current value
  // never above the maximum, so libvirt never clips it, and a killed process leaves each value
  // as it was or as it is to be.
  auto in_order = [](std::uint64_t max_now, std::uint64_t current_now, std::uint64_t max,
                     std::uint64_t current, const std::function<void(std::uint64_t, bool)>& set) {
    bool shrinking = max < max_now;
    if (shrinking && current_now != current) {
      set(current, false);
    }
    if (max_now != max) {
      set(max, true);
    }
    if (!shrinking && current_now != current) {
      set(current, false);
    }
  };
  in_order(now.memory_kib, now.current_kib, mem.memory_kib, mem.current_kib,
           [&](std::uint64_t kib, bool maximum) {
             sys::pause_point("define");
             if (virDomainSetMemoryFlags(d.get(), kib,
                                         VIR_DOMAIN_AFFECT_CONFIG |
                                             (maximum ? VIR_DOMAIN_MEM_MAXIMUM : 0)) < 0) {
               throw_last(fmt::format("failed to set the {} of '{}'",
                                      maximum ? "maximum memory" : "memory", vm.name));
             }
           });
  in_order(now.vcpus, now.current_vcpus, mem.vcpus, mem.current_vcpus,
           [&](std::uint64_t n, bool maximum) {
             sys::pause_point("define");
             if (virDomainSetVcpusFlags(d.get(), static_cast<unsigned>(n),
                                        VIR_DOMAIN_AFFECT_CONFIG |
                                            (maximum ? VIR_DOMAIN_VCPU_MAXIMUM : 0)) < 0) {
               throw_last(fmt::format("failed to set the {} of '{}'",
                                      maximum ? "maximum vCPU count" : "vCPU count", vm.name));
             }
           });
}

DomainMemory LibvirtHypervisor::live_memory(const VmRef& vm) {
  auto d = m_impl->open(vm);
  Chars xml(virDomainGetXMLDesc(d.get(), 0));
  if (!xml) {
    throw_last(fmt::format("failed to read the running configuration of '{}'", vm.name));
  }
  return parse_domain_memory(xml.get());
}

void LibvirtHypervisor::set_live_balloon_target(const VmRef& vm, std::uint64_t target_kib) {
  auto d = m_impl->open(vm);
  if (virDomainSetMemoryFlags(d.get(), target_kib, VIR_DOMAIN_AFFECT_LIVE) < 0) {
    throw_last(fmt::format("failed to set the memory balloon of '{}'", vm.name));
  }
}

BalloonStats LibvirtHypervisor::balloon_stats(const VmRef& vm) {
  auto d = m_impl->open(vm);
  virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
  int n = virDomainMemoryStats(d.get(), stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
  if (n < 0) {
    throw_last(fmt::format("failed to read the balloon statistics of '{}'", vm.name));
  }
  BalloonStats out;
  for (int i = 0; i < n; ++i) {
    auto v = static_cast<std::uint64_t>(stats[i].val);
    switch (stats[i].tag) {
    case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON: out.actual_kib = v; break;
    case VIR_DOMAIN_MEMORY_STAT_UNUSED: out.unused_kib = v; break;
    case VIR_DOMAIN_MEMORY_STAT_AVAILABLE: out.available_kib = v; break;
    case VIR_DOMAIN_MEMORY_STAT_USABLE: out.usable_kib = v; break;
    case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES: out.disk_caches_kib = v; break;
    case VIR_DOMAIN_MEMORY_STAT_RSS: out.rss_kib = v; break;
    case VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE: out.last_update = static_cast<std::int64_t>(v); break;
    default: break;
    }
  }
  return out;
}

VmRef LibvirtHypervisor::start(const VmRef& vm) {
  auto d = m_impl->open(vm);
  if (virDomainCreate(d.get()) < 0) {
    throw_last(fmt::format("failed to start '{}'", vm.name));
  }
  return ref_of(d.get());
}

VmRef LibvirtHypervisor::start_without_huge_pages(const VmRef& vm) {
  // virDomainCreateXML over a defined, inactive domain of the same name and UUID runs it from
  // the XML given while libvirt keeps the definition as it is (the domain stays persistent),
  // so a process killed here leaves nothing to repair. SECURE: the secrets go along.
  auto d = m_impl->open(vm);
  Chars xml(virDomainGetXMLDesc(d.get(), VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
  if (!xml) {
    throw_last(fmt::format("failed to read the configuration of '{}'", vm.name));
  }
  std::string run = without_huge_pages(xml.get());
  Domain started(virDomainCreateXML(m_impl->conn, run.c_str(), 0));
  if (!started) {
    throw_last(fmt::format("failed to start '{}'", vm.name));
  }
  return ref_of(started.get());
}

HypervisorVersion LibvirtHypervisor::version() {
  HypervisorVersion out;
  const char* type = virConnectGetType(m_impl->conn);
  unsigned long hv = 0;
  unsigned long lib = 0;
  if (!type || virConnectGetVersion(m_impl->conn, &hv) < 0 ||
      virConnectGetLibVersion(m_impl->conn, &lib) < 0) {
    throw_last("failed to read the hypervisor's version");
  }
  out.type = type;
  out.hypervisor = hv;
  out.libvirt = lib;
  return out;
}

std::optional<HugePagePool> LibvirtHypervisor::huge_page_pool() {
  if (uri().starts_with("qemu:///")) {
    // This machine's pool, with the pages a mapping was promised taken out (libvirt's free
    // page count leaves them in).
    auto mem = LocalHost().meminfo();
    if (!mem) {
      return std::nullopt;
    }
    std::uint64_t taken = std::min(mem->hugepages_reserved, mem->hugepages_free);
    return HugePagePool{mem->hugepage_kib, mem->hugepages_total, mem->hugepages_free - taken};
  }
  // Elsewhere, libvirt's node calls: the page sizes from the capabilities (2 MiB, else the
  // smallest above the base page), the free pages of every NUMA cell.
  Chars caps(virConnectGetCapabilities(m_impl->conn));
  virNodeInfo info;
  if (!caps || virNodeGetInfo(m_impl->conn, &info) < 0) {
    virResetLastError();
    return std::nullopt;
  }
  pugi::xml_document doc;
  doc.load_string(caps.get());
  std::vector<unsigned> sizes;
  for (auto pages : doc.child("capabilities").child("host").child("cpu").children("pages")) {
    sizes.push_back(pages.attribute("size").as_uint());
  }
  std::sort(sizes.begin(), sizes.end());
  if (sizes.size() < 2) {
    return HugePagePool{};
  }
  unsigned size = std::find(sizes.begin(), sizes.end(), 2048u) != sizes.end() ? 2048 : sizes[1];
  unsigned cells = std::max(info.nodes, 1u);
  std::vector<unsigned long long> counts(cells);
  if (virNodeGetFreePages(m_impl->conn, 1, &size, 0, cells, counts.data(), 0) < 0) {
    virResetLastError();
    return std::nullopt;
  }
  HugePagePool pool{size, 0, 0};
  for (auto n : counts) {
    pool.free_pages += n;
  }
  pool.total_pages = pool.free_pages; // libvirt tells the free pages only
  return pool;
}

void LibvirtHypervisor::power(const VmRef& vm, PowerAction action) {
  auto d = m_impl->open(vm);
  int rc = 0;
  const char* what = "";
  switch (action) {
  case PowerAction::PowerOff:
    rc = virDomainDestroy(d.get());
    what = "power off";
    break;
  case PowerAction::AcpiPowerButton:
    rc = virDomainShutdown(d.get());
    what = "send the ACPI power button to";
    break;
  case PowerAction::Pause:
    rc = virDomainSuspend(d.get());
    what = "pause";
    break;
  case PowerAction::Resume:
    rc = virDomainResume(d.get());
    what = "resume";
    break;
  case PowerAction::Reset:
    rc = virDomainReset(d.get(), 0);
    what = "reset";
    break;
  case PowerAction::SaveState:
    // libvirt pauses the guest first and resumes it if the save fails, as VBoxManage does; a
    // state saved while paused comes back running, as VirtualBox restores every saved state.
    rc = virDomainManagedSave(d.get(), VIR_DOMAIN_SAVE_RUNNING);
    what = "save the state of";
    break;
  }
  if (rc < 0) {
    throw_last(fmt::format("failed to {} '{}'", what, vm.name));
  }
}

std::string LibvirtHypervisor::uri() {
  Chars name(virConnectGetURI(m_impl->conn));
  if (!name) {
    throw_last("failed to read the connection's URI");
  }
  return name.get();
}

bool LibvirtHypervisor::is_local() {
  // "driver:///path" and "driver+unix:///path" name this machine; anything with a host part
  // (qemu+tcp://127.0.0.1/system included) is treated as remote: local-only figures are absent.
  std::string u = uri();
  auto scheme_end = u.find("://");
  if (scheme_end == std::string::npos) {
    return false;
  }
  std::string transport;
  if (auto plus = u.find('+'); plus < scheme_end) {
    transport = u.substr(plus + 1, scheme_end - plus - 1);
  }
  bool no_host = u.compare(scheme_end, 4, ":///") == 0;
  return no_host && (transport.empty() || transport == "unix");
}

namespace {
struct StatsRecordsDeleter {
  void operator()(virDomainStatsRecordPtr* p) const { virDomainStatsRecordListFree(p); }
};

void apply_stat(DomainStats& out, std::string_view field, unsigned long long v) {
  auto& b = out.balloon;
  if (field == "balloon.current")
    b.actual_kib = v;
  else if (field == "balloon.maximum")
    out.maximum_kib = v;
  else if (field == "balloon.unused")
    b.unused_kib = v;
  else if (field == "balloon.available")
    b.available_kib = v;
  else if (field == "balloon.usable")
    b.usable_kib = v;
  else if (field == "balloon.disk_caches")
    b.disk_caches_kib = v;
  else if (field == "balloon.rss")
    b.rss_kib = v;
  else if (field == "balloon.last-update")
    b.last_update = static_cast<std::int64_t>(v);
  else if (field == "balloon.major_fault")
    b.major_faults = v;
  else if (field == "balloon.swap_in")
    b.swap_in_kib = v;
  else if (field == "cpu.user")
    out.cpu_user_ns = v;
  else if (field == "cpu.system")
    out.cpu_system_ns = v;
}
} // namespace

std::vector<DomainStats> LibvirtHypervisor::running_domain_stats() {
  virDomainStatsRecordPtr* records = nullptr;
  int n = virConnectGetAllDomainStats(m_impl->conn,
                                      VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_CPU_TOTAL,
                                      &records, VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
  std::vector<DomainStats> out;
  if (n < 0) {
    if (virGetLastErrorCode() != VIR_ERR_NO_SUPPORT) {
      throw_last("failed to read the running domains' statistics");
    }
    virResetLastError();
  } else {
    std::unique_ptr<virDomainStatsRecordPtr, StatsRecordsDeleter> owned(records);
    for (int i = 0; i < n; ++i) {
      DomainStats st;
      st.vm = ref_of(records[i]->dom);
      for (int p = 0; p < records[i]->nparams; ++p) {
        const auto& param = records[i]->params[p];
        if (param.type == VIR_TYPED_PARAM_ULLONG) {
          apply_stat(st, param.field, param.value.ul);
        }
      }
      out.push_back(std::move(st));
    }
  }
  // Drivers without the bulk call (or, like the test driver, without its balloon group)
  // are read one domain at a time.
  bool bulk_ok = n >= 0 && std::all_of(out.begin(), out.end(), [](const DomainStats& st) {
                   return st.balloon.actual_kib.has_value();
                 });
  if (bulk_ok) {
    return out;
  }
  out.clear();
  virDomainPtr* doms = nullptr;
  int nd = virConnectListAllDomains(m_impl->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (nd < 0) {
    throw_last("failed to list the running domains");
  }
  std::vector<Domain> owned(doms, doms + nd);
  free(doms); // NOLINT: libvirt allocates with malloc
  for (const auto& d : owned) {
    DomainStats st;
    virDomainMemoryStatStruct mem[VIR_DOMAIN_MEMORY_STAT_NR];
    int nm = virDomainMemoryStats(d.get(), mem, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    virDomainInfo info;
    if (nm < 0 || virDomainGetInfo(d.get(), &info) < 0) {
      if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ||
          virGetLastErrorCode() == VIR_ERR_OPERATION_INVALID) {
        continue; // stopped between the listing and the read
      }
      throw_last("failed to read a running domain's statistics");
    }
    st.vm = ref_of(d.get());
    st.maximum_kib = info.maxMem;
    for (int i = 0; i < nm; ++i) {
      auto v = static_cast<unsigned long long>(mem[i].val);
      switch (mem[i].tag) {
      case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON: apply_stat(st, "balloon.current", v); break;
      case VIR_DOMAIN_MEMORY_STAT_UNUSED: apply_stat(st, "balloon.unused", v); break;
      case VIR_DOMAIN_MEMORY_STAT_AVAILABLE: apply_stat(st, "balloon.available", v); break;
      case VIR_DOMAIN_MEMORY_STAT_USABLE: apply_stat(st, "balloon.usable", v); break;
      case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES: apply_stat(st, "balloon.disk_caches", v); break;
      case VIR_DOMAIN_MEMORY_STAT_RSS: apply_stat(st, "balloon.rss", v); break;
      case VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE: apply_stat(st, "balloon.last-update", v); break;
      case VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT: apply_stat(st, "balloon.major_fault", v); break;
      case VIR_DOMAIN_MEMORY_STAT_SWAP_IN: apply_stat(st, "balloon.swap_in", v); break;
      default: break;
      }
    }
    virTypedParameter params[3];
    int np = virDomainGetCPUStats(d.get(), params, 3, -1, 1, 0);
    for (int p = 0; p < np; ++p) {
      std::string_view f = params[p].field;
      if (params[p].type == VIR_TYPED_PARAM_ULLONG) {
        apply_stat(st,
                   f == "user_time"     ? "cpu.user"
                   : f == "system_time" ? "cpu.system"
                                        : "",
                   params[p].value.ul);
      }
    }
    virResetLastError(); // CPU statistics are optional
    out.push_back(std::move(st));
  }
  return out;
}

namespace {
// A running domain's figures by device, from the bulk call's "block.N.*" and "net.N.*" fields.
struct BulkIo {
  bool block = false; ///< the driver has the block group ("block.count")
  bool net = false;   ///< … and the interface group ("net.count")
  std::map<std::string, std::uint64_t, std::less<>> physical; ///< disk target -> bytes
  std::map<std::string, DomainNicStats, std::less<>> nics;    ///< nic target -> counters
};

BulkIo bulk_io(const virDomainStatsRecord& rec) {
  std::map<std::string, std::string, std::less<>> names; // "block.0" / "net.0" -> device
  for (int p = 0; p < rec.nparams; ++p) {
    const auto& param = rec.params[p];
    std::string_view f = param.field;
    if (param.type == VIR_TYPED_PARAM_STRING && f.ends_with(".name")) {
      names[std::string(f.substr(0, f.size() - 5))] = param.value.s;
    }
  }
  BulkIo out;
  for (int p = 0; p < rec.nparams; ++p) {
    const auto& param = rec.params[p];
    std::string_view f = param.field;
    out.block |= f == "block.count";
    out.net |= f == "net.count";
    auto dot = f.rfind('.');
    if (param.type != VIR_TYPED_PARAM_ULLONG || dot == std::string_view::npos) {
      continue;
    }
    std::string_view prefix =
        f.starts_with("net.") ? f.substr(0, f.find('.', 4)) : f.substr(0, dot);
    auto name = names.find(prefix);
    if (name == names.end()) {
      continue;
    }
    std::string_view key = f.substr(prefix.size() + 1);
    if (f.starts_with("block.") && key == "physical") {
      out.physical[name->second] = param.value.ul;
    } else if (f.starts_with("net.") && (key == "rx.bytes" || key == "tx.bytes")) {
      auto& nic = out.nics[name->second];
      nic.target = name->second;
      (key == "rx.bytes" ? nic.rx_bytes : nic.tx_bytes) = param.value.ul;
    }
  }
  return out;
}
} // namespace

std::vector<DomainIoStats> LibvirtHypervisor::running_domain_io_stats() {
  // The bulk call has the figures; the live XML says which block devices are hard disks. A
  // driver without the bulk call or its groups (the test driver) is asked device by device.
  // NOWAIT: a guest whose QEMU is busy with a job (a save, a migration) gives no block figures
  // this time instead of stalling every guest's sample for up to 30 s.
  virDomainStatsRecordPtr* records = nullptr;
  int n = virConnectGetAllDomainStats(
      m_impl->conn, VIR_DOMAIN_STATS_BLOCK | VIR_DOMAIN_STATS_INTERFACE, &records,
      VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE | VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT);
  std::unique_ptr<virDomainStatsRecordPtr, StatsRecordsDeleter> owned_records(n >= 0 ? records
                                                                                     : nullptr);
  std::vector<std::pair<virDomainPtr, BulkIo>> doms;
  std::vector<Domain> listed;
  if (n >= 0) {
    for (int i = 0; i < n; ++i) {
      doms.emplace_back(records[i]->dom, bulk_io(*records[i]));
    }
  } else {
    if (virGetLastErrorCode() != VIR_ERR_NO_SUPPORT) {
      throw_last("failed to read the running domains' statistics");
    }
    virResetLastError();
    virDomainPtr* all = nullptr;
    int nd = virConnectListAllDomains(m_impl->conn, &all, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (nd < 0) {
      throw_last("failed to list the running domains");
    }
    listed = std::vector<Domain>(all, all + nd);
    free(all); // NOLINT: libvirt allocates with malloc
    for (const auto& d : listed) {
      doms.emplace_back(d.get(), BulkIo{});
    }
  }
  std::vector<DomainIoStats> out;
  for (auto& [dom, bulk] : doms) {
    Chars xml(virDomainGetXMLDesc(dom, 0));
    if (!xml) {
      if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ||
          virGetLastErrorCode() == VIR_ERR_OPERATION_INVALID) {
        virResetLastError();
        continue; // stopped between the listing and the read
      }
      throw_last("failed to read a running domain's definition");
    }
    auto devices = parse_domain_devices(xml.get());
    DomainIoStats st;
    st.vm = ref_of(dom);
    for (const auto& target : devices.disks) {
      DomainDiskStats disk{target, std::nullopt};
      if (auto it = bulk.physical.find(target); it != bulk.physical.end()) {
        disk.physical_bytes = it->second;
      } else if (virDomainBlockInfo info{};
                 !bulk.block && virDomainGetBlockInfo(dom, target.c_str(), &info, 0) == 0) {
        disk.physical_bytes = info.physical;
      }
      st.disks.push_back(std::move(disk));
    }
    for (const auto& target : devices.nics) {
      if (auto it = bulk.nics.find(target); it != bulk.nics.end()) {
        st.nics.push_back(it->second);
      } else if (virDomainInterfaceStatsStruct ifs{};
                 !bulk.net && virDomainInterfaceStats(dom, target.c_str(), &ifs, sizeof ifs) == 0 &&
                 ifs.rx_bytes >= 0 && ifs.tx_bytes >= 0) {
        st.nics.push_back({target, static_cast<std::uint64_t>(ifs.rx_bytes),
                           static_cast<std::uint64_t>(ifs.tx_bytes)});
      }
    }
    virResetLastError(); // a device without figures is left out, not an error
    out.push_back(std::move(st));
  }
  return out;
}

namespace {

// A dotted IPv4 netmask as a prefix length (its leading one bits).
unsigned netmask_prefix(std::string_view mask) {
  unsigned prefix = 0;
  std::size_t pos = 0;
  while (pos <= mask.size()) {
    auto dot = std::min(mask.find('.', pos), mask.size());
    unsigned byte = 0;
    for (char c : mask.substr(pos, dot - pos)) {
      byte = byte * 10 + static_cast<unsigned>(c - '0');
    }
    for (unsigned bit = 0x80; bit != 0 && (byte & bit) != 0; bit >>= 1) {
      ++prefix;
    }
    pos = dot + 1;
  }
  return prefix;
}

// The parts of a network definition (network_conf.c's format) that NetworkInfo holds.
NetworkInfo parse_network(const char* xml) {
  pugi::xml_document doc;
  if (!doc.load_string(xml)) {
    throw BackendError("failed to parse a network definition");
  }
  auto net = doc.child("network");
  NetworkInfo info;
  info.name = net.child_value("name");
  if (auto fwd = net.child("forward")) {
    info.forward_mode = fwd.attribute("mode").as_string("nat");
    info.forward_dev =
        fwd.attribute("dev").as_string(fwd.child("interface").attribute("dev").value());
  }
  info.bridge = net.child("bridge").attribute("name").value();
  for (auto ip : net.children("ip")) {
    std::string family = ip.attribute("family").as_string("ipv4");
    std::string address = ip.attribute("address").as_string();
    if (family == "ipv6" && !info.ipv6_address) {
      info.ipv6_address = address;
      info.ipv6_prefix = ip.attribute("prefix").as_uint(64);
    } else if (family == "ipv4" && !info.ipv4_address) {
      info.ipv4_address = address;
      info.ipv4_prefix = ip.attribute("netmask")
                             ? netmask_prefix(ip.attribute("netmask").as_string())
                             : ip.attribute("prefix").as_uint(24);
      auto dhcp = ip.child("dhcp");
      if (auto range = dhcp.child("range")) {
        info.dhcp_start = range.attribute("start").as_string();
        info.dhcp_end = range.attribute("end").as_string();
      }
      for (auto host : dhcp.children("host")) {
        if (host.attribute("mac") && host.attribute("ip")) {
          info.dhcp_hosts.emplace_back(host.attribute("mac").as_string(),
                                       host.attribute("ip").as_string());
        }
      }
    }
  }
  return info;
}
} // namespace

namespace {
/// What to say when listing one kind of libvirt object fails.
struct ListWords {
  const char* list;       ///< "failed to list networks"
  const char* definition; ///< "failed to read a network's definition"
  const char* active;     ///< "failed to read whether network '{}' is active"
};

/// Every object of one kind (networks, host interfaces): its definition parsed and whether it
/// is active. T is the libvirt object (virNetwork, virInterface); the functions are its API's.
template <typename T, typename Info>
std::vector<Info> list_all(virConnectPtr conn, int (*list)(virConnectPtr, T***, unsigned int),
                           int (*release)(T*), char* (*xml_of)(T*, unsigned int),
                           int (*is_active)(T*), Info (*parse)(const char*),
                           const ListWords& words) {
  T** all = nullptr;
  int n = list(conn, &all, 0);
  if (n < 0) {
    throw_last(words.list);
  }
  std::vector<std::unique_ptr<T, int (*)(T*)>> owned;
  for (int i = 0; i < n; ++i) {
    owned.emplace_back(all[i], release);
  }
  free(all); // NOLINT: libvirt allocates with malloc
  std::vector<Info> out;
  for (const auto& one : owned) {
    Chars xml(xml_of(one.get(), 0));
    if (!xml) {
      throw_last(words.definition);
    }
    Info info = parse(xml.get());
    int active = is_active(one.get());
    if (active < 0) {
      throw_last(fmt::format(fmt::runtime(words.active), info.name));
    }
    info.active = active == 1;
    out.push_back(std::move(info));
  }
  return out;
}

HostInterfaceInfo parse_host_interface_xml(const char* xml) { return parse_host_interface(xml); }
} // namespace

std::vector<NetworkInfo> LibvirtHypervisor::list_networks() {
  return list_all(m_impl->conn, &virConnectListAllNetworks, &virNetworkFree, &virNetworkGetXMLDesc,
                  &virNetworkIsActive, &parse_network,
                  {"failed to list networks", "failed to read a network's definition",
                   "failed to read whether network '{}' is active"});
}

std::vector<HostInterfaceInfo> LibvirtHypervisor::list_host_interfaces() {
  return list_all(m_impl->conn, &virConnectListAllInterfaces, &virInterfaceFree,
                  &virInterfaceGetXMLDesc, &virInterfaceIsActive, &parse_host_interface_xml,
                  {"failed to list the host's network interfaces",
                   "failed to read a host interface's definition",
                   "failed to read whether interface '{}' is up"});
}

NodeStats LibvirtHypervisor::node_stats() {
  NodeStats out;
  virNodeInfo info;
  if (virNodeGetInfo(m_impl->conn, &info) == 0) {
    out.cpus = info.cpus;
    if (info.mhz > 0) {
      out.cpu_mhz = info.mhz;
    }
  }
  int n = 0;
  if (virNodeGetMemoryStats(m_impl->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, nullptr, &n, 0) == 0 &&
      n > 0) {
    std::vector<virNodeMemoryStats> mem(static_cast<size_t>(n));
    if (virNodeGetMemoryStats(m_impl->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, mem.data(), &n, 0) ==
        0) {
      for (int i = 0; i < n; ++i) {
        std::string_view f = mem[static_cast<size_t>(i)].field;
        auto v = mem[static_cast<size_t>(i)].value;
        if (f == VIR_NODE_MEMORY_STATS_TOTAL)
          out.mem_total_kib = v;
        else if (f == VIR_NODE_MEMORY_STATS_FREE)
          out.mem_free_kib = v;
        else if (f == VIR_NODE_MEMORY_STATS_BUFFERS)
          out.mem_buffers_kib = v;
        else if (f == VIR_NODE_MEMORY_STATS_CACHED)
          out.mem_cached_kib = v;
      }
    }
  }
  n = 0;
  if (virNodeGetCPUStats(m_impl->conn, VIR_NODE_CPU_STATS_ALL_CPUS, nullptr, &n, 0) == 0 && n > 0) {
    std::vector<virNodeCPUStats> cpu(static_cast<size_t>(n));
    if (virNodeGetCPUStats(m_impl->conn, VIR_NODE_CPU_STATS_ALL_CPUS, cpu.data(), &n, 0) == 0) {
      for (int i = 0; i < n; ++i) {
        std::string_view f = cpu[static_cast<size_t>(i)].field;
        auto v = cpu[static_cast<size_t>(i)].value;
        if (f == VIR_NODE_CPU_STATS_USER)
          out.cpu_user_ns = v;
        else if (f == VIR_NODE_CPU_STATS_KERNEL)
          out.cpu_kernel_ns = v;
        else if (f == VIR_NODE_CPU_STATS_IDLE)
          out.cpu_idle_ns = v;
        else if (f == VIR_NODE_CPU_STATS_IOWAIT)
          out.cpu_iowait_ns = v;
      }
    }
  }
  n = 0;
  if (virNodeGetMemoryParameters(m_impl->conn, nullptr, &n, 0) == 0 && n > 0) {
    std::vector<virTypedParameter> params(static_cast<size_t>(n));
    if (virNodeGetMemoryParameters(m_impl->conn, params.data(), &n, 0) == 0) {
      for (int i = 0; i < n; ++i) {
        const auto& p = params[static_cast<size_t>(i)];
        if (std::string_view(p.field) == VIR_NODE_MEMORY_SHARED_PAGES_SHARED &&
            p.type == VIR_TYPED_PARAM_ULLONG) {
          out.ksm_pages_shared = p.value.ul;
        }
      }
      virTypedParamsClear(params.data(), n);
    }
  }
  virResetLastError(); // each figure is optional; a driver that lacks one is not an error
  return out;
}

namespace {
struct InterfacesDeleter {
  int count = 0;
  void operator()(virDomainInterfacePtr* p) const {
    for (int i = 0; i < count; ++i) {
      virDomainInterfaceFree(p[i]);
    }
    free(p); // NOLINT: libvirt allocates with malloc
  }
};

// The errors that mean "this source cannot answer", not "something broke": no agent, a source
// the driver lacks, the domain stopped meanwhile, a network without leases.
bool cannot_answer(int code) {
  return code == VIR_ERR_AGENT_UNRESPONSIVE || code == VIR_ERR_OPERATION_TIMEOUT ||
         code == VIR_ERR_AGENT_UNSYNCED || code == VIR_ERR_NO_SUPPORT ||
         code == VIR_ERR_ARGUMENT_UNSUPPORTED || code == VIR_ERR_OPERATION_INVALID ||
         code == VIR_ERR_OPERATION_UNSUPPORTED || code == VIR_ERR_CONFIG_UNSUPPORTED ||
         code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_NO_NETWORK ||
         code == VIR_ERR_OPERATION_DENIED;
}
} // namespace

std::optional<std::vector<GuestInterface>>
LibvirtHypervisor::interface_addresses(const VmRef& vm, AddressSource source) {
  auto d = m_impl->open(vm);
  unsigned src = source == AddressSource::Lease ? VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE
                 : source == AddressSource::Arp ? VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP
                                                : VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT;
  virDomainInterfacePtr* ifaces = nullptr;
  int n = virDomainInterfaceAddresses(d.get(), &ifaces, src, 0);
  if (n < 0) {
    // The ARP source reads the host's neighbour table over netlink, whatever the domain: its
    // failures (libvirt 9.0 on Linux 6.18: "wrong nlmsg len") say nothing about the guest,
    // so the next source is asked.
    if (source == AddressSource::Arp || cannot_answer(virGetLastErrorCode())) {
      virResetLastError();
      return std::nullopt;
    }
    throw_last(fmt::format("failed to read the addresses of '{}'", vm.name));
  }
  std::unique_ptr<virDomainInterfacePtr, InterfacesDeleter> owned(ifaces, InterfacesDeleter{n});
  std::vector<GuestInterface> out;
  for (int i = 0; i < n; ++i) {
    const auto& iface = *ifaces[i];
    GuestInterface g{iface.name ? iface.name : "", iface.hwaddr ? iface.hwaddr : "", {}};
    for (unsigned a = 0; a < iface.naddrs; ++a) {
      const auto& addr = iface.addrs[a];
      if (addr.type == VIR_IP_ADDR_TYPE_IPV4 && addr.addr) {
        g.ipv4.push_back({addr.addr, addr.prefix});
      }
    }
    out.push_back(std::move(g));
  }
  return out;
}

std::optional<GuestOsInfo> LibvirtHypervisor::guest_os_info(const VmRef& vm) {
  auto d = m_impl->open(vm);
  virTypedParameterPtr params = nullptr;
  int n = 0;
  if (virDomainGetGuestInfo(d.get(), VIR_DOMAIN_GUEST_INFO_OS, &params, &n, 0) < 0) {
    if (cannot_answer(virGetLastErrorCode())) {
      virResetLastError();
      return std::nullopt;
    }
    throw_last(fmt::format("failed to read the guest information of '{}'", vm.name));
  }
  GuestOsInfo out;
  for (int i = 0; i < n; ++i) {
    std::string_view f = params[i].field;
    if (params[i].type != VIR_TYPED_PARAM_STRING || !params[i].value.s) {
      continue;
    }
    std::string v = params[i].value.s;
    if (f == "os.id") {
      out.id = v;
    } else if (f == "os.pretty-name") {
      out.pretty_name = v;
    } else if (f == "os.kernel-release") {
      out.kernel_release = v;
    } else if (f == "os.kernel-version") {
      out.kernel_version = v;
    }
  }
  virTypedParamsFree(params, n);
  return out;
}

void LibvirtHypervisor::set_memory_stats_period(const VmRef& vm, int seconds) {
  auto d = m_impl->open(vm);
  if (virDomainSetMemoryStatsPeriod(d.get(), seconds, VIR_DOMAIN_AFFECT_LIVE) < 0) {
    throw_last(fmt::format("failed to set the statistics period of '{}'", vm.name));
  }
}

namespace {
int on_lifecycle(virConnectPtr, virDomainPtr dom, int event, int, void* opaque) {
  auto& pending = *static_cast<std::vector<DomainEvent>*>(opaque);
  if (event == VIR_DOMAIN_EVENT_STARTED) {
    pending.push_back({DomainEvent::Kind::Started, ref_of(dom)});
  } else if (event == VIR_DOMAIN_EVENT_STOPPED) {
    pending.push_back({DomainEvent::Kind::Stopped, ref_of(dom)});
  }
  return 0;
}

int on_balloon(virConnectPtr, virDomainPtr dom, unsigned long long actual, void* opaque) {
  auto& pending = *static_cast<std::vector<DomainEvent>*>(opaque);
  pending.push_back({DomainEvent::Kind::BalloonChanged, ref_of(dom), actual});
  return 0;
}
} // namespace

void LibvirtHypervisor::watch_domain_events() {
  auto& impl = *m_impl;
  if (!impl.events) {
    throw BackendError("domain events need a connection opened for them");
  }
  if (impl.lifecycle_callback >= 0) {
    return;
  }
  // A dead libvirtd shows as a closed connection: at once when its socket closes, and within
  // ~15 s (keepalive) when the link just goes silent.
  if (virConnectRegisterCloseCallback(impl.conn, on_close, &impl.closed, nullptr) == 0) {
    impl.close_callback = true;
  }
  virConnectSetKeepAlive(impl.conn, 5, 3);
  impl.lifecycle_callback = virConnectDomainEventRegisterAny(
      impl.conn, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
      &impl.pending, nullptr);
  if (impl.lifecycle_callback < 0) {
    throw_last("failed to watch domain lifecycle events");
  }
  impl.balloon_callback = virConnectDomainEventRegisterAny(
      impl.conn, nullptr, VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, VIR_DOMAIN_EVENT_CALLBACK(on_balloon),
      &impl.pending, nullptr);
  if (impl.balloon_callback < 0) {
    throw_last("failed to watch balloon events");
  }
}

std::vector<DomainEvent> LibvirtHypervisor::wait_domain_events(int timeout_ms) {
  auto& impl = *m_impl;
  bool fired = false;
  int timer = virEventAddTimeout(
      std::max(timeout_ms, 0), [](int, void* p) { *static_cast<bool*>(p) = true; }, &fired,
      nullptr);
  if (timer < 0) {
    throw_last("failed to wait for domain events");
  }
  while (!fired && impl.pending.empty() && !impl.closed) {
    if (virEventRunDefaultImpl() < 0) {
      virEventRemoveTimeout(timer);
      throw_last("failed to wait for domain events");
    }
  }
  virEventRemoveTimeout(timer);
  if (impl.closed && impl.pending.empty()) {
    throw BackendError("the connection to libvirtd closed", true);
  }
  return std::exchange(impl.pending, {});
}

std::unique_ptr<Hypervisor> open_hypervisor(const std::optional<std::string>& uri, bool read_only,
                                            bool events) {
  return std::make_unique<LibvirtHypervisor>(uri, read_only, events);
}

} // namespace vbm::backend
