#pragma once
// An in-memory Hypervisor for unit tests.
//
// What it deliberately does not do: it has no XML (it stores DomainMemory directly, so
// domain_xml.cpp is covered by its own tests), no live balloon, no validation of memory
// values beyond what the real driver would reject in tests' scenarios, and no connection
// lifecycle. It records the mutating calls in `calls` and can fail the next call of a given
// name with `fail_next`.

#include "backend/hypervisor.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace vbm::test {

class FakeHypervisor : public backend::Hypervisor {
public:
  struct Vm {
    backend::VmRef ref;
    backend::VmState state = backend::VmState::PoweredOff;
    backend::DomainMemory memory{1024 * 1024, 1024 * 1024, false, false, true};
  };

  /// Adds a powered-off VM with `memory_mb` of RAM and no balloon; returns it for tweaking.
  Vm& add(const std::string& name, const std::string& uuid, std::uint64_t memory_mb = 1024) {
    Vm vm{{name, uuid, -1}};
    vm.memory.memory_kib = vm.memory.current_kib = memory_mb * 1024;
    m_vms.push_back(vm);
    return m_vms.back();
  }
  Vm& vm(const std::string& name) {
    return *std::find_if(m_vms.begin(), m_vms.end(), [&](const Vm& v) { return v.ref.name == name; });
  }
  /// The next call named `method` throws BackendError with `message`.
  void fail_next(const std::string& method, const std::string& message) {
    m_failures[method] = message;
  }

  std::string hostname() override { return "fakehost"; }
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
      out.back().id = backend::VmState::Running == v.state || backend::VmState::Paused == v.state
                          ? next_id++
                          : -1;
    }
    std::reverse(out.begin(), out.end()); // like libvirt, promise no order
    return out;
  }
  backend::VmState state(const backend::VmRef& ref) override { return get(ref).state; }
  backend::DomainMemory persistent_memory(const backend::VmRef& ref) override {
    check("persistent_memory");
    return get(ref).memory;
  }
  void set_persistent_memory(const backend::VmRef& ref, const backend::DomainMemory& mem) override {
    calls.push_back("set_persistent_memory " + ref.name);
    check("set_persistent_memory");
    auto stored = mem;
    stored.balloon_device = get(ref).memory.balloon_device;
    get(ref).memory = stored;
  }

  backend::HostInfo host{"x86_64", true};
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
    throw backend::BackendError(42, "failed to find domain '" + ref.name + "'");
  }
  void check(const std::string& method) {
    if (auto it = m_failures.find(method); it != m_failures.end()) {
      std::string msg = it->second;
      m_failures.erase(it);
      throw backend::BackendError(1, msg);
    }
  }

  std::vector<Vm> m_vms; // a vector keeps the driver's (insertion) order, like libvirt's list
  std::map<std::string, std::string> m_failures;
};

} // namespace vbm::test
