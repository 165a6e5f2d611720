#pragma once
// Admission at startvm (vboxkvm's own): before libvirt is asked to start a VM, whether the host
// can back it. The arithmetic is a pure function of figures (unit-tested with any host); what
// gathers the figures (this host's /proc, or libvirt's node calls for a remote one) and the
// admin's policy file are beside it.
//
//   /etc/vboxkvm/memory.conf   overcommit = 150%   (oVirt's 100/150/200% policy; default none)

#include "backend/hypervisor.hpp"
#include "sys/error.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vbm::vm {

/// The host's memory as admission counts it.
struct HostMemory {
  std::uint64_t ram_kib = 0;             ///< MemTotal, or libvirt's node total
  std::optional<std::uint64_t> swap_kib; ///< SwapTotal; nullopt where libvirt does not say
  std::uint64_t hugetlb_pool_kib = 0;    ///< the huge page pool: RAM no other guest can use
};

/// A guest as admission counts it.
struct GuestFloor {
  std::string name;
  std::uint64_t memory_kib = 0; ///< its RAM
  /// What it keeps however far its balloon goes: RAM minus the largest balloon VirtualBox
  /// accepts (floor(9·RAM/10) − 1 MB); all of RAM when the balloon can take nothing (no
  /// balloon device, hugetlbfs, or deflate-on-OOM, which lets the guest take it back).
  std::uint64_t floor_kib = 0;
  bool hugetlbfs = false; ///< backed by the huge page pool: not counted against RAM
};
GuestFloor guest_floor(const std::string& name, const backend::DomainMemory& mem, bool hugetlbfs);

/// The admin's admission policy.
struct AdmissionPolicy {
  /// Guest RAM of running VMs (this one included) may be at most this % of host RAM.
  std::optional<std::uint32_t> overcommit_percent;
  std::string source; ///< the file that set it, for messages
};

struct Admission {
  std::uint64_t capacity_kib = 0; ///< RAM − huge page pool + swap
  std::uint64_t running_floors_kib = 0;
  std::uint64_t running_memory_kib = 0;
  std::uint64_t vm_floor_kib = 0;
  std::uint64_t vm_memory_kib = 0;
  std::optional<std::uint64_t> limit_kib; ///< overcommit_percent of RAM
  std::optional<std::string> refusal;     ///< one line with the figures and what to do
};

/// Whether `vm` fits beside the `running` guests on `host` under `policy`: the floors of the
/// guests not on hugetlbfs (this one's too) within RAM − pool + swap, and all their RAM within
/// the overcommit limit.
Admission admit(const HostMemory& host, std::span<const GuestFloor> running, const GuestFloor& vm,
                const AdmissionPolicy& policy);

/// This host's figures (a local qemu:/// connection: /proc/meminfo), else libvirt's node
/// calls (no swap figure); nullopt when the host's RAM is not known.
std::optional<HostMemory> host_memory(backend::Hypervisor& hv);
/// The running guests of the connection, as admission counts them (their live definitions).
std::vector<GuestFloor> running_guests(backend::Hypervisor& hv);

/// Reads the policy file; a missing file is no policy. Throws vbm::Error (one line naming the
/// file) for a file it cannot read or trust (not root's or ours, or writable by others) or a
/// line it does not understand.
AdmissionPolicy read_admission_policy(const std::filesystem::path& file);

} // namespace vbm::vm
