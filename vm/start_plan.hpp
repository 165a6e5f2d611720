#pragma once
// What startvm decides before it asks libvirt to start a VM: the backing of its RAM when large
// pages are on. Pure functions of figures, so unit tests give them any host.

#include "backend/hypervisor.hpp"
#include "vm/admission.hpp"

#include <optional>
#include <string>

namespace vbm::vm {

/// How a VM whose definition has <hugepages/> (modifyvm --large-pages on) is started. Large
/// pages are a performance hint in VirtualBox, never a reason a VM does not start: hugetlbfs
/// only when the host's pool can back all of its RAM and nothing it asks for needs small pages
/// (page fusion, a balloon, free page reporting, deflate-on-OOM: hugetlbfs pages can be neither
/// merged nor given back); otherwise transparent huge pages, and `why` says so.
struct Backing {
  bool hugetlbfs = true;
  std::string why; ///< why not hugetlbfs (one clause); empty when hugetlbfs
};

/// The choice for the persistent definition `def` (its hugepages set) on a host whose pool is
/// `pool` (nullopt: unknown, hugetlbfs is tried). A definition that names its page sizes
/// (`hugepages_sized`: the admin chose them with virsh) is libvirt's to back: hugetlbfs.
Backing choose_backing(const backend::DomainMemory& def,
                       const std::optional<backend::HugePagePool>& pool);

/// Everything startvm decides before it asks libvirt (and `startvm --dry-run` prints).
struct StartPlan {
  std::optional<Backing> backing;     ///< with large pages only
  std::optional<HostMemory> host;     ///< nullopt: the host's RAM is not known
  std::optional<Admission> admission; ///< nullopt: not known (no host figures)
};
/// The plan for starting `vm`, whose definition (as a start would find it) is `def`: the
/// backing of its large pages (not for a restore, which keeps the saved run's), the host's
/// figures, the running guests and the admission against `policy`.
StartPlan plan_start(backend::Hypervisor& hv, const backend::VmRef& vm,
                     const backend::DomainMemory& def, bool restoring,
                     const AdmissionPolicy& policy);

} // namespace vbm::vm
