#pragma once
// An in-memory Hypervisor for unit tests.
//
// What it deliberately does not do: it has no XML (it stores DomainMemory directly, so
// domain_xml.cpp is covered by its own tests), no validation of memory values, and no
// connection lifecycle. Its guests move their balloon only when tick() is called (the CLI
// fixture ticks on every sleep), by `balloon_step_kib` at a time, and only if `driver` is set;
// without a driver they report last_update 0, as QEMU does. It records the mutating calls in
// `calls` and can fail the next call of a given name with `fail_next`.

#include "backend/hypervisor.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vbm::test {

class FakeHypervisor : public backend::Hypervisor {
public:
  struct Vm {
    backend::VmRef ref;
    backend::VmState state = backend::VmState::PoweredOff;
    backend::DomainMemory memory{1024 * 1024, 1024 * 1024, false, false, true};
    backend::DomainMemory live{};  ///< the running configuration (set by start)
    bool driver = true;            ///< the guest runs a virtio-balloon driver
    std::uint64_t actual_kib = 0;  ///< where the guest's balloon is
    std::uint64_t target_kib = 0;  ///< where it was asked to go
    std::uint64_t rss_kib = 0;     ///< QEMU's resident set (reported by running_domain_stats)
    std::uint64_t cpu_user_ns = 0; ///< the domain's accumulated CPU time
    std::uint64_t cpu_system_ns = 0;
    int stats_period = 0;                    ///< set_memory_stats_period's last value
    std::optional<std::uint64_t> usable_kib; ///< reported MemAvailable (none unless set)
    std::optional<std::uint64_t> unused_kib; ///< reported MemFree (default: half of actual)
    std::int64_t stats_time = 1700000000;    ///< the guest's stamp of its last statistics
    int resets = 0;                          ///< PowerAction::Reset calls

    /// running_domain_io_stats: its hard disks and its network interfaces' counters.
    std::vector<backend::DomainDiskStats> disks;
    std::vector<backend::DomainNicStats> nics;
    backend::DomainDetails details; ///< what domain_details returns
    /// What interface_addresses returns per source (absent: that source cannot answer).
    std::map<backend::AddressSource, std::vector<backend::GuestInterface>> addresses;
    std::optional<backend::GuestOsInfo> os_info; ///< what guest_os_info returns
  };

  /// Adds a powered-off VM with `memory_mb` of RAM and no balloon; returns it for tweaking.
  Vm& add(const std::string& name, const std::string& uuid, std::uint64_t memory_mb = 1024) {
    Vm vm;
    vm.ref = {name, uuid, -1};
    vm.memory.memory_kib = vm.memory.current_kib = memory_mb * 1024;
    m_vms.push_back(vm);
    return m_vms.back();
  }
  std::vector<Vm>& vms() { return m_vms; }
  Vm& vm(const std::string& name) {
    return *std::find_if(m_vms.begin(), m_vms.end(),
                         [&](const Vm& v) { return v.ref.name == name; });
  }
  /// The next call named `method` throws BackendError with `message`.
  void fail_next(const std::string& method, const std::string& message) {
    m_failures[method] = message;
  }

  /// The guests with a driver move their balloon one step towards the target.
  void tick() {
    for (auto& v : m_vms) {
      if (v.driver && v.actual_kib != v.target_kib) {
        auto step = std::min<std::uint64_t>(balloon_step_kib, v.actual_kib > v.target_kib
                                                                  ? v.actual_kib - v.target_kib
                                                                  : v.target_kib - v.actual_kib);
        v.actual_kib = v.actual_kib > v.target_kib ? v.actual_kib - step : v.actual_kib + step;
      }
    }
  }
  /// Makes a VM running as if started (live config = persistent, balloon at <currentMemory>).
  Vm& run(const std::string& name) {
    auto& v = vm(name);
    start(v.ref);
    return v;
  }

  std::string hostname() override { return "fakehost"; }
  backend::DomainMemory live_memory(const backend::VmRef& ref) override { return get(ref).live; }
  void set_live_balloon_target(const backend::VmRef& ref, std::uint64_t kib) override {
    calls.push_back("set_live_balloon_target " + ref.name + " " + std::to_string(kib));
    check("set_live_balloon_target");
    get(ref).target_kib = kib;
  }
  backend::BalloonStats balloon_stats(const backend::VmRef& ref) override {
    auto& v = get(ref);
    backend::BalloonStats s;
    if (v.live.balloon_device) {
      s.actual_kib = v.actual_kib;
      s.last_update = v.driver ? v.stats_time : 0;
      if (v.driver) {
        s.unused_kib = v.unused_kib.value_or(v.actual_kib / 2);
        s.usable_kib = v.usable_kib;
      }
    }
    return s;
  }
  backend::VmRef start(const backend::VmRef& ref) override {
    calls.push_back("start " + ref.name);
    check("start");
    auto& v = get(ref);
    v.state = backend::VmState::Running;
    v.live = v.memory;
    v.actual_kib = v.target_kib = v.memory.current_kib;
    v.ref.id = m_next_id++;
    return v.ref;
  }
  backend::VmRef start_without_huge_pages(const backend::VmRef& ref) override {
    calls.push_back("start-without-huge-pages " + ref.name);
    check("start_without_huge_pages");
    auto& v = get(ref);
    auto started = start(ref);
    calls.pop_back();
    v.live.hugepages = false;
    return started;
  }
  backend::HypervisorVersion version() override {
    check("version");
    return versions;
  }
  std::optional<backend::HugePagePool> huge_page_pool() override {
    check("huge_page_pool");
    return pool;
  }
  void power(const backend::VmRef& ref, backend::PowerAction action) override {
    calls.push_back("power " + ref.name);
    check("power");
    auto& v = get(ref);
    switch (action) {
    case backend::PowerAction::PowerOff:
    case backend::PowerAction::AcpiPowerButton:
      v.state = backend::VmState::PoweredOff;
      v.ref.id = -1;
      break;
    case backend::PowerAction::Pause: v.state = backend::VmState::Paused; break;
    case backend::PowerAction::Resume: v.state = backend::VmState::Running; break;
    case backend::PowerAction::Reset: ++v.resets; break;
    case backend::PowerAction::SaveState:
      v.state = backend::VmState::Saved;
      v.ref.id = -1;
      break;
    }
  }
  backend::HostInfo host_info() override {
    check("host_info");
    return host;
  }
  std::vector<backend::VmRef> list_vms() override {
    check("list_vms");
    std::vector<backend::VmRef> out;
    int next_id = 1;
    for (const auto& v : m_vms) {
      out.push_back(v.ref);
      if (out.back().id < 0 &&
          (backend::VmState::Running == v.state || backend::VmState::Paused == v.state)) {
        out.back().id = 100 + next_id++;
      }
    }
    std::reverse(out.begin(), out.end()); // like libvirt, promise no order
    return out;
  }
  backend::VmState state(const backend::VmRef& ref) override { return get(ref).state; }
  backend::DomainMemory persistent_memory(const backend::VmRef& ref) override {
    check("persistent_memory");
    return get(ref).memory;
  }
  backend::DomainDetails domain_details(const backend::VmRef& ref) override {
    check("domain_details");
    return get(ref).details;
  }
  void set_persistent_memory(const backend::VmRef& ref, const backend::DomainMemory& mem) override {
    calls.push_back("set_persistent_memory " + ref.name);
    check("set_persistent_memory");
    auto stored = mem;
    stored.balloon_device = get(ref).memory.balloon_device;
    get(ref).memory = stored;
    if (after_define) {
      after_define(); // e.g. throw to stand for a process killed right after libvirt's change
    }
  }

  std::string uri() override { return uri_value; }
  bool is_local() override { return local; }
  std::vector<backend::DomainStats> running_domain_stats() override {
    check("running_domain_stats");
    std::vector<backend::DomainStats> out;
    for (const auto& ref : list_vms()) {
      if (ref.id < 0) {
        continue;
      }
      auto& v = get(ref);
      backend::DomainStats st{ref, v.live.memory_kib, balloon_stats(ref), v.cpu_user_ns,
                              v.cpu_system_ns};
      st.balloon.rss_kib = v.rss_kib;
      if (v.driver && v.stats_period > 0) {
        st.balloon.available_kib = v.actual_kib;
        st.balloon.disk_caches_kib = v.actual_kib / 8;
      }
      out.push_back(st);
    }
    return out;
  }
  std::vector<backend::DomainIoStats> running_domain_io_stats() override {
    check("running_domain_io_stats");
    std::vector<backend::DomainIoStats> out;
    for (const auto& ref : list_vms()) {
      if (ref.id >= 0) {
        out.push_back({ref, get(ref).disks, get(ref).nics});
      }
    }
    return out;
  }
  backend::NodeStats node_stats() override {
    check("node_stats");
    return node;
  }
  std::vector<backend::HostInterfaceInfo> list_host_interfaces() override {
    check("list_host_interfaces");
    return host_interfaces;
  }
  std::vector<backend::NetworkInfo> list_networks() override {
    check("list_networks");
    return networks;
  }
  std::optional<std::vector<backend::GuestInterface>>
  interface_addresses(const backend::VmRef& ref, backend::AddressSource source) override {
    check("interface_addresses");
    calls.push_back("interface_addresses " + ref.name + " " +
                    std::to_string(static_cast<int>(source)));
    auto& v = get(ref);
    auto it = v.addresses.find(source);
    if (!(v.state == backend::VmState::Running || v.state == backend::VmState::Paused) ||
        it == v.addresses.end()) {
      return std::nullopt;
    }
    return it->second;
  }
  std::optional<backend::GuestOsInfo> guest_os_info(const backend::VmRef& ref) override {
    check("guest_os_info");
    auto& v = get(ref);
    if (!(v.state == backend::VmState::Running || v.state == backend::VmState::Paused)) {
      return std::nullopt;
    }
    return v.os_info;
  }
  void set_memory_stats_period(const backend::VmRef& ref, int seconds) override {
    calls.push_back("set_memory_stats_period " + ref.name + " " + std::to_string(seconds));
    get(ref).stats_period = seconds;
  }

  void watch_domain_events() override {
    check("watch_domain_events");
    watching = true;
  }
  /// Returns the queued `events` (no waiting: time is the test's), or throws a lost connection
  /// once `connection_lost` is set.
  std::vector<backend::DomainEvent> wait_domain_events(int timeout_ms) override {
    waits.push_back(timeout_ms);
    if (connection_lost) {
      throw backend::BackendError("the connection to libvirtd closed", true);
    }
    return std::exchange(events, {});
  }

  backend::NodeStats node;
  bool watching = false;
  bool connection_lost = false;
  std::vector<backend::DomainEvent> events; ///< what the next wait_domain_events returns
  std::vector<int> waits;                   ///< the timeouts wait_domain_events was given
  std::string uri_value = "test:///fake";   ///< what uri() returns
  bool local = false;                       ///< is_local(): whether the collector reads LocalHost
  backend::HostInfo host{true};
  std::optional<backend::HugePagePool> pool = backend::HugePagePool{2048, 0, 0}; ///< no pool
  backend::HypervisorVersion versions{"QEMU", 7002000, 9000000}; ///< QEMU 7.2, libvirt 9.0
  std::vector<backend::NetworkInfo> networks;                    ///< what list_networks returns
  std::vector<backend::HostInterfaceInfo> host_interfaces;       ///< list_host_interfaces
  std::uint64_t balloon_step_kib = 64 * 1024;
  std::function<void()> after_define;
  std::vector<std::string> calls;

protected:
  std::optional<backend::VmRef> lookup_uuid(const std::string& uuid) override {
    for (const auto& v : m_vms) {
      if (v.ref.uuid == uuid) {
        return v.ref;
      }
    }
    return std::nullopt;
  }
  std::optional<backend::VmRef> lookup_name(const std::string& name) override {
    for (const auto& v : m_vms) {
      if (v.ref.name == name) {
        return v.ref;
      }
    }
    return std::nullopt;
  }

private:
  Vm& get(const backend::VmRef& ref) {
    for (auto& v : m_vms) {
      if (v.ref.uuid == ref.uuid) {
        return v;
      }
    }
    throw backend::BackendError("failed to find domain '" + ref.name + "'");
  }
  void check(const std::string& method) {
    if (auto it = m_failures.find(method); it != m_failures.end()) {
      std::string msg = it->second;
      m_failures.erase(it);
      throw backend::BackendError(msg);
    }
  }

  std::vector<Vm> m_vms; // a vector keeps the driver's (insertion) order, like libvirt's list
  std::map<std::string, std::string> m_failures;
  int m_next_id = 1;
};

} // namespace vbm::test
