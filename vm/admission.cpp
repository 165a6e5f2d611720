#include "vm/admission.hpp"

#include "backend/local_host.hpp"
#include "sys/files.hpp"
#include "sys/parse.hpp"
#include "vm/settings.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace vbm::vm {

namespace {
std::uint64_t mb(std::uint64_t kib) { return kib / 1024; }

} // namespace

GuestFloor guest_floor(const std::string& name, const backend::DomainMemory& mem, bool hugetlbfs) {
  GuestFloor g{name, mem.memory_kib, mem.memory_kib, hugetlbfs};
  if (!mem.balloon_device || hugetlbfs || mem.autodeflate) {
    return g;
  }
  auto bound = balloon_bound(static_cast<std::uint32_t>(mb(mem.memory_kib)));
  std::uint64_t most_kib = bound > 0 ? std::uint64_t{bound - 1} * 1024 : 0;
  g.floor_kib = mem.memory_kib - std::min(most_kib, mem.memory_kib);
  return g;
}

Admission admit(const HostMemory& host, std::span<const GuestFloor> running, const GuestFloor& vm,
                const AdmissionPolicy& policy) {
  Admission a;
  std::uint64_t pool = std::min(host.hugetlb_pool_kib, host.ram_kib);
  a.capacity_kib = host.ram_kib - pool + host.swap_kib.value_or(0);
  for (const auto& g : running) {
    a.running_floors_kib += g.hugetlbfs ? 0 : g.floor_kib;
    a.running_memory_kib += g.memory_kib;
  }
  a.vm_floor_kib = vm.hugetlbfs ? 0 : vm.floor_kib;
  a.vm_memory_kib = vm.memory_kib;
  constexpr std::string_view k_do = "stop a guest or give this VM less memory, or start it anyway "
                                    "with startvm --force";
  if (a.running_floors_kib + a.vm_floor_kib > a.capacity_kib) {
    a.refusal = fmt::format(
        "'{}' does not fit: it keeps at least {} MB that no balloon can take, the running guests "
        "{} MB, {} MB in all, above the host's {} MB (RAM {} MB{}{}); {}",
        vm.name, mb(a.vm_floor_kib), mb(a.running_floors_kib),
        mb(a.running_floors_kib + a.vm_floor_kib), mb(a.capacity_kib), mb(host.ram_kib),
        pool > 0 ? fmt::format(" - huge page pool {} MB", mb(pool)) : "",
        host.swap_kib ? fmt::format(" + swap {} MB", mb(*host.swap_kib)) : " (swap not known)",
        k_do);
    return a;
  }
  if (policy.overcommit_percent) {
    a.limit_kib = host.ram_kib * *policy.overcommit_percent / 100;
    if (a.running_memory_kib + a.vm_memory_kib > *a.limit_kib) {
      a.refusal = fmt::format(
          "'{}' would commit {} MB of guest RAM (running guests {} MB + its {} MB), above the "
          "overcommit limit of {}% of the host's {} MB RAM = {} MB ({}); {}",
          vm.name, mb(a.running_memory_kib + a.vm_memory_kib), mb(a.running_memory_kib),
          mb(a.vm_memory_kib), *policy.overcommit_percent, mb(host.ram_kib), mb(*a.limit_kib),
          policy.source, k_do);
    }
  }
  return a;
}

std::optional<HostMemory> host_memory(backend::Hypervisor& hv) {
  HostMemory host;
  if (hv.uri().starts_with("qemu:///")) {
    auto mem = backend::LocalHost().meminfo();
    if (!mem) {
      return std::nullopt;
    }
    host.ram_kib = mem->total_kib;
    host.swap_kib = mem->swap_total_kib;
    host.hugetlb_pool_kib = mem->hugepages_total * mem->hugepage_kib;
    return host;
  }
  auto node = hv.node_stats();
  if (!node.mem_total_kib) {
    return std::nullopt;
  }
  host.ram_kib = *node.mem_total_kib;
  if (auto pool = hv.huge_page_pool()) {
    host.hugetlb_pool_kib = pool->total_pages * pool->page_kib;
  }
  return host;
}

std::vector<GuestFloor> running_guests(backend::Hypervisor& hv) {
  std::vector<GuestFloor> out;
  for (const auto& ref : hv.list_vms()) {
    if (ref.id < 0) {
      continue;
    }
    try {
      auto live = hv.live_memory(ref);
      out.push_back(guest_floor(ref.name, live, live.hugepages));
    } catch (const backend::BackendError& e) {
      if (e.connection_lost()) {
        throw;
      } // stopped since the listing: not running
    }
  }
  return out;
}

AdmissionPolicy read_admission_policy(const std::filesystem::path& file) {
  AdmissionPolicy policy;
  policy.source = file.string();
  struct stat st {};
  if (lstat(file.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return policy;
    }
    throw Error(fmt::format("cannot read '{}': {}", file.string(), std::strerror(errno)));
  }
  // The admin's: a file anyone else could write would let them lift the limit.
  if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw Error(fmt::format("refusing '{}': it must be a regular file of root's that only root "
                            "can write (chown root: and chmod go-w it)",
                            file.string()));
  }
  errno = 0;
  auto text = sys::read_text_file(file, false);
  if (!text) {
    throw Error(fmt::format("cannot read '{}': {}", file.string(),
                            std::strerror(errno != 0 ? errno : EIO)));
  }
  for (const auto& [n, key, value] : sys::parse_settings(*text)) {
    if (key != "overcommit") {
      throw Error(
          fmt::format("{}:{}: unknown setting '{}' (known: overcommit)", file.string(), n, key));
    }
    std::string_view digits = value;
    if (digits.ends_with('%')) {
      digits.remove_suffix(1);
    }
    std::uint32_t percent = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), percent);
    if (ec != std::errc() || end != digits.data() + digits.size() || percent < 10 ||
        percent > 10000) {
      throw Error(fmt::format("{}:{}: overcommit must be a percentage of host RAM from 10% to "
                              "10000% (e.g. 150%), not '{}'",
                              file.string(), n, value));
    }
    policy.overcommit_percent = percent;
  }
  return policy;
}

} // namespace vbm::vm
