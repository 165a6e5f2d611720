#include "backend/libvirt_hypervisor.hpp"

#include "backend/domain_xml.hpp"

#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pugixml.hpp>

namespace vbm::backend {

namespace {
// libvirt prints every error to stderr by default; we report them ourselves (tools/vsh.c).
void silent_error_handler(void*, virErrorPtr) {}

[[noreturn]] void throw_last(const std::string& context) {
  virErrorPtr err = virGetLastError();
  int code = err ? err->code : VIR_ERR_INTERNAL_ERROR;
  std::string text = err && err->message ? err->message : "unknown libvirt error";
  throw BackendError(code, fmt::format("{}: {}", context, text));
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
  return VmRef{name ? name : "", uuid_of(dom), id == static_cast<unsigned int>(-1) ? -1 : static_cast<int>(id)};
}
} // namespace

struct LibvirtHypervisor::Impl {
  virConnectPtr conn = nullptr;
  std::optional<std::string> hostname;
  std::optional<HostInfo> host;

  Domain open(const VmRef& vm) {
    virDomainPtr d = virDomainLookupByUUIDString(conn, vm.uuid.c_str());
    if (!d) {
      throw_last(fmt::format("failed to find domain '{}'", vm.name));
    }
    return Domain(d);
  }
};

LibvirtHypervisor::LibvirtHypervisor(const std::optional<std::string>& uri, bool read_only)
    : m_impl(std::make_unique<Impl>()) {
  virSetErrorFunc(nullptr, silent_error_handler);
  const char* name = uri ? uri->c_str() : nullptr;
  m_impl->conn = read_only ? virConnectOpenReadOnly(name) : virConnectOpen(name);
  if (!m_impl->conn) {
    throw_last(fmt::format("failed to connect to the hypervisor{}",
                           uri ? fmt::format(" at '{}'", *uri) : std::string()));
  }
}

LibvirtHypervisor::~LibvirtHypervisor() {
  if (m_impl->conn) {
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
    pugi::xml_document doc;
    doc.load_string(caps.get());
    std::string arch = doc.child("capabilities").child("host").child("cpu").child_value("arch");
    m_impl->host = HostInfo{arch, is_64bit_arch(arch)};
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
  case VIR_DOMAIN_BLOCKED:
    return VmState::Running;
  case VIR_DOMAIN_PAUSED:
  case VIR_DOMAIN_PMSUSPENDED:
    return VmState::Paused;
  case VIR_DOMAIN_SHUTDOWN:
    return VmState::Stopping;
  case VIR_DOMAIN_CRASHED:
    return VmState::Aborted;
  case VIR_DOMAIN_SHUTOFF: {
    int saved = virDomainHasManagedSaveImage(d.get(), 0);
    if (saved < 0) {
      throw_last(fmt::format("failed to check '{}' for a saved state", vm.name));
    }
    return saved ? VmState::Saved : VmState::PoweredOff;
  }
  default:
    return VmState::Unknown;
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

void LibvirtHypervisor::set_persistent_memory(const VmRef& vm, const DomainMemory& mem) {
  auto d = m_impl->open(vm);
  // SECURE keeps secrets such as VNC passwords, which would otherwise be lost on redefinition.
  Chars xml(virDomainGetXMLDesc(d.get(), VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE));
  if (!xml) {
    throw_last(fmt::format("failed to read the configuration of '{}'", vm.name));
  }
  std::string updated = apply_domain_memory(xml.get(), mem);
  Domain defined(virDomainDefineXMLFlags(m_impl->conn, updated.c_str(), VIR_DOMAIN_DEFINE_VALIDATE));
  if (!defined) {
    throw_last(fmt::format("failed to save the configuration of '{}'", vm.name));
  }
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

void LibvirtHypervisor::power(const VmRef& vm, PowerAction action) {
  auto d = m_impl->open(vm);
  int rc = 0;
  const char* what = "";
  switch (action) {
  case PowerAction::PowerOff: rc = virDomainDestroy(d.get()); what = "power off"; break;
  case PowerAction::AcpiPowerButton: rc = virDomainShutdown(d.get()); what = "send the ACPI power button to"; break;
  case PowerAction::Pause: rc = virDomainSuspend(d.get()); what = "pause"; break;
  case PowerAction::Resume: rc = virDomainResume(d.get()); what = "resume"; break;
  }
  if (rc < 0) {
    throw_last(fmt::format("failed to {} '{}'", what, vm.name));
  }
}

std::unique_ptr<Hypervisor> open_hypervisor(const std::optional<std::string>& uri, bool read_only) {
  return std::make_unique<LibvirtHypervisor>(uri, read_only);
}

} // namespace vbm::backend
