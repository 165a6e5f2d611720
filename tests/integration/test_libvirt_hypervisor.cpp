// LibvirtHypervisor against libvirt's in-process test driver: test:///default and our own node.

#include "backend/hypervisor.hpp"

#include <gmock/gmock.h>

namespace vbm::test {
namespace {

using backend::VmState;

std::string node_uri() { return std::string("test://") + VBM_TEST_DATA_DIR + "/node.xml"; }

TEST(LibvirtTestDefault, ListsAndReadsTheDefaultDomain) {
  auto hv = backend::open_hypervisor("test:///default", false);
  auto vms = hv->list_vms();
  ASSERT_EQ(vms.size(), 1u);
  EXPECT_EQ(vms[0].name, "test");
  EXPECT_EQ(hv->state(vms[0]), VmState::Running);
  auto mem = hv->persistent_memory(vms[0]);
  EXPECT_EQ(mem.memory_kib, 8388608u);
  EXPECT_FALSE(hv->hostname().empty());
  // The test driver's capabilities describe a made-up i686 host: the 32-bit gate, for real.
  EXPECT_FALSE(hv->host_info().is_64bit);
}

TEST(LibvirtTestDefault, ReadOnlyConnectionReads) {
  auto hv = backend::open_hypervisor("test:///default", true);
  auto vm = hv->find_vm("test");
  ASSERT_TRUE(vm);
  EXPECT_EQ(hv->persistent_memory(*vm).memory_kib, 8388608u);
}

// The VM metrics Disk/Usage and Net/Rate: the test driver has no block or interface group in its
// bulk statistics, so each device is read on its own (virDomainGetBlockInfo's physical size,
// virDomainInterfaceStats' counters).
TEST(LibvirtTestDefault, DisksAndInterfacesOfRunningDomains) {
  auto hv = backend::open_hypervisor("test:///default", true);
  auto io = hv->running_domain_io_stats();
  ASSERT_EQ(io.size(), 1u);
  EXPECT_EQ(io[0].vm.name, "test");
  ASSERT_EQ(io[0].disks.size(), 1u);
  EXPECT_EQ(io[0].disks[0].target, "vda");
  EXPECT_EQ(io[0].disks[0].physical_bytes, 1099511627776u);
  ASSERT_EQ(io[0].nics.size(), 1u);
  EXPECT_EQ(io[0].nics[0].target, "testnet0");
  EXPECT_GT(io[0].nics[0].rx_bytes, 0u);
  EXPECT_GT(io[0].nics[0].tx_bytes, 0u);
  auto node = backend::open_hypervisor(node_uri(), true);
  auto node_io = node->running_domain_io_stats();
  EXPECT_EQ(node_io.size(), 3u); // run1, paused1 and os1; only os1 has interfaces (two)
  for (const auto& d : node_io) {
    EXPECT_TRUE(d.disks.empty()) << d.vm.name;
    EXPECT_EQ(d.nics.size(), d.vm.name == "os1" ? 2u : 0u) << d.vm.name;
  }
}

TEST(LibvirtNode, StatesFromTheNodeFile) {
  auto hv = backend::open_hypervisor(node_uri(), false);
  std::map<std::string, VmState> states;
  for (const auto& vm : hv->list_vms()) {
    states[vm.name] = hv->state(vm);
  }
  EXPECT_EQ(states.at("off1"), VmState::PoweredOff);
  EXPECT_EQ(states.at("run1"), VmState::Running);
  EXPECT_EQ(states.at("saved1"), VmState::Saved);
  EXPECT_EQ(states.at("paused1"), VmState::Paused);
}

TEST(LibvirtNode, FindByNameAndUuidRules) {
  auto hv = backend::open_hypervisor(node_uri(), false);
  EXPECT_TRUE(hv->find_vm("off1"));
  EXPECT_FALSE(hv->find_vm("OFF1")); // case-sensitive
  auto by_uuid = hv->find_vm("{AAAAAAAA-1111-4111-8111-000000000002}");
  ASSERT_TRUE(by_uuid);
  EXPECT_EQ(by_uuid->name, "run1");
  EXPECT_FALSE(hv->find_vm("aaaaaaaa-1111-4111-8111-00000000000f"));
  EXPECT_EQ(hv->find_vm("nofusion with space")->uuid, "aaaaaaaa-1111-4111-8111-000000000005");
}

TEST(LibvirtNode, MemoryConfigRoundTrip) {
  auto hv = backend::open_hypervisor(node_uri(), false);
  auto vm = *hv->find_vm("nofusion with space");
  auto mem = hv->persistent_memory(vm);
  EXPECT_EQ(mem.memory_kib, 1048576u);
  EXPECT_EQ(mem.current_kib, 943718u);
  EXPECT_TRUE(mem.nosharepages);
  EXPECT_FALSE(mem.balloon_device);

  auto off = *hv->find_vm("off1");
  backend::DomainMemory want{524288, 421888, true, false, true};
  hv->set_persistent_memory(off, want);
  EXPECT_EQ(hv->persistent_memory(off), want);
  want.nosharepages = false;
  hv->set_persistent_memory(off, want);
  EXPECT_EQ(hv->persistent_memory(off), want);
}

TEST(LibvirtErrors, BadUriIsABackendError) {
  try {
    backend::open_hypervisor("nosuchdriver:///x", true);
    FAIL();
  } catch (const backend::BackendError& e) {
    EXPECT_THAT(e.what(),
                testing::HasSubstr("failed to connect to the hypervisor at 'nosuchdriver:///x'"));
  }
}

} // namespace
} // namespace vbm::test
