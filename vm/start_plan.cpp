#include "vm/start_plan.hpp"

#include <fmt/format.h>

namespace vbm::vm {

Backing choose_backing(const backend::DomainMemory& def,
                       const std::optional<backend::HugePagePool>& pool) {
  if (def.hugepages_sized) {
    return {};
  }
  if (!def.nosharepages) {
    return {false, "page fusion is on (KSM merges no hugetlbfs page)"};
  }
  if (def.current_kib < def.memory_kib) {
    return {false, "a memory balloon is set (hugetlbfs pages never return to the host)"};
  }
  if (def.free_page_reporting || def.autodeflate) {
    return {false, fmt::format("{} is on (the balloon cannot give hugetlbfs pages back)",
                               def.free_page_reporting ? "free page reporting" : "deflate-on-OOM")};
  }
  if (!pool) {
    return {};
  }
  if (pool->page_kib == 0) {
    return {false, "the host has no huge pages"};
  }
  std::uint64_t needed = (def.memory_kib + pool->page_kib - 1) / pool->page_kib;
  if (pool->free_pages >= needed) {
    return {};
  }
  return {false, fmt::format("the host's huge page pool has {} free {} KiB pages, {} needed "
                             "(reserve them: sysctl vm.nr_hugepages={})",
                             pool->free_pages, pool->page_kib, needed,
                             pool->total_pages + needed - pool->free_pages)};
}

StartPlan plan_start(backend::Hypervisor& hv, const backend::VmRef& vm,
                     const backend::DomainMemory& def, bool restoring,
                     const AdmissionPolicy& policy) {
  StartPlan plan;
  if (def.hugepages && !restoring) {
    plan.backing = choose_backing(def, hv.huge_page_pool());
  }
  plan.host = host_memory(hv);
  if (plan.host) {
    auto running = running_guests(hv);
    plan.admission =
        admit(*plan.host, running,
              guest_floor(vm.name, def, plan.backing && plan.backing->hugetlbfs), policy);
  }
  return plan;
}

} // namespace vbm::vm
