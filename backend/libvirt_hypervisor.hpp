#pragma once
// The Hypervisor on a real libvirt connection. <libvirt/libvirt.h> stays in the .cpp.

#include "backend/hypervisor.hpp"

namespace vbm::backend {

class LibvirtHypervisor final : public Hypervisor {
public:
  /// Connects to `uri` (nullopt: libvirt's default). Throws BackendError.
  /// `events`: set up libvirt's event loop first, so watch_domain_events works.
  LibvirtHypervisor(const std::optional<std::string>& uri, bool read_only, bool events = false);
  ~LibvirtHypervisor() override;
  LibvirtHypervisor(const LibvirtHypervisor&) = delete;
  LibvirtHypervisor& operator=(const LibvirtHypervisor&) = delete;

  std::string hostname() override;
  HostInfo host_info() override;
  std::vector<VmRef> list_vms() override;
  VmState state(const VmRef& vm) override;
  DomainMemory persistent_memory(const VmRef& vm) override;
  DomainDetails domain_details(const VmRef& vm) override;
  void set_persistent_memory(const VmRef& vm, const DomainMemory& mem) override;
  DomainMemory live_memory(const VmRef& vm) override;
  void set_live_balloon_target(const VmRef& vm, std::uint64_t target_kib) override;
  BalloonStats balloon_stats(const VmRef& vm) override;
  VmRef start(const VmRef& vm) override;
  VmRef start_without_huge_pages(const VmRef& vm) override;
  std::optional<HugePagePool> huge_page_pool() override;
  HypervisorVersion version() override;
  void power(const VmRef& vm, PowerAction action) override;
  std::string uri() override;
  bool is_local() override;
  std::vector<DomainStats> running_domain_stats() override;
  NodeStats node_stats() override;
  std::vector<NetworkInfo> list_networks() override;
  std::vector<HostInterfaceInfo> list_host_interfaces() override;
  std::vector<DomainIoStats> running_domain_io_stats() override;
  std::optional<std::vector<GuestInterface>> interface_addresses(const VmRef& vm,
                                                                 AddressSource source) override;
  std::optional<GuestOsInfo> guest_os_info(const VmRef& vm) override;
  void set_memory_stats_period(const VmRef& vm, int seconds) override;
  void watch_domain_events() override;
  std::vector<DomainEvent> wait_domain_events(int timeout_ms) override;

protected:
  std::optional<VmRef> lookup_uuid(const std::string& uuid) override;
  std::optional<VmRef> lookup_name(const std::string& name) override;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

} // namespace vbm::backend
