// guestproperty and showvminfo's network adapters: the libvirt -> VirtualBox adapter mapping
// (vm/network.cpp), the guest property rules (vm/guest_properties.cpp: which source answers,
// flags, Main's checks) and the CLI's wait loop on a fake clock.

#include "support/cli_fixture.hpp"
#include "vm/guest_properties.hpp"
#include "vm/network.hpp"

#include <gtest/gtest.h>

namespace vbm::test {
namespace {

using backend::AddressSource;
using backend::DomainNic;
using backend::GuestInterface;
using backend::NetworkInfo;
using vm::Attachment;

std::vector<NetworkInfo> networks() {
  NetworkInfo nat;
  nat.name = "default";
  nat.forward_mode = "nat";
  nat.bridge = "virbr0";
  nat.ipv4_address = "192.168.122.1";
  nat.ipv4_prefix = 24;
  NetworkInfo isolated;
  isolated.name = "isolated";
  isolated.bridge = "virbr1";
  isolated.ipv4_address = "10.0.5.1";
  isolated.ipv4_prefix = 24;
  NetworkInfo guests_only;
  guests_only.name = "l2only";
  guests_only.bridge = "virbr3";
  NetworkInfo routed;
  routed.name = "routed";
  routed.forward_mode = "route";
  routed.bridge = "virbr2";
  NetworkInfo macvtap;
  macvtap.name = "macvtap";
  macvtap.forward_mode = "bridge";
  macvtap.forward_dev = "eno1";
  return {nat, isolated, guests_only, routed, macvtap};
}

vm::NetworkAdapter adapter(const std::string& type, const std::string& source,
                           const std::string& model = "virtio") {
  DomainNic nic;
  nic.type = type;
  nic.source = source;
  nic.model = model;
  nic.mac = "52:54:00:ab:cd:0e";
  return vm::network_adapter(nic, networks());
}

TEST(NetworkAdapterTest, AttachmentFollowsWhatTheNetworkGivesItsGuests) {
  struct Case {
    std::string type, source;
    Attachment attachment;
    std::string attached_to;
  } cases[] = {
      {"network", "default", Attachment::Nat, "192.168.122.0/24"},
      {"network", "isolated", Attachment::HostOnly, "virbr1"},
      {"network", "l2only", Attachment::Internal, "l2only"},
      {"network", "routed", Attachment::Bridged, "virbr2"},
      {"network", "macvtap", Attachment::Bridged, "eno1"},
      {"network", "undefined", Attachment::Internal, "undefined"},
      {"bridge", "br0", Attachment::Bridged, "br0"},
      {"direct", "eth1", Attachment::Bridged, "eth1"},
      {"user", "", Attachment::Nat, ""},
      {"ethernet", "", Attachment::Generic, "ethernet"},
      {"vhostuser", "", Attachment::Generic, "vhostuser"},
  };
  for (const auto& c : cases) {
    auto a = adapter(c.type, c.source);
    EXPECT_TRUE(a.enabled);
    EXPECT_EQ(a.attachment, c.attachment) << c.type << " " << c.source;
    EXPECT_EQ(a.attached_to, c.attached_to) << c.type << " " << c.source;
  }
}

TEST(NetworkAdapterTest, ModelsMacCableAndSlots) {
  EXPECT_EQ(vm::vbox_adapter_type("virtio"), "virtio");
  EXPECT_EQ(vm::vbox_adapter_type("e1000"), "82540EM");
  EXPECT_EQ(vm::vbox_adapter_type("e1000-82545em"), "82545EM");
  EXPECT_EQ(vm::vbox_adapter_type("pcnet"), "Am79C970A");
  EXPECT_EQ(vm::vbox_adapter_type("e1000e"), "unknown");
  EXPECT_EQ(vm::vbox_adapter_type("rtl8139"), "unknown");
  EXPECT_EQ(vm::vbox_adapter_type(""), "unknown");
  EXPECT_EQ(vm::vbox_mac("52:54:00:ab:cd:0e"), "525400ABCD0E");
  EXPECT_EQ(vm::vbox_mac("52:54:00:ab:cd"), "");
  EXPECT_EQ(vm::vbox_mac("52:54:00:ab:cd:zz"), "");
  DomainNic down;
  down.type = "bridge";
  down.link_up = false;
  down.boot_order = 3;
  down.mtu = 9000;
  auto a = vm::network_adapter(down, {});
  EXPECT_FALSE(a.cable_connected);
  EXPECT_EQ(a.boot_priority, 3U);
  EXPECT_EQ(a.mtu, 9000U);
  backend::DomainDetails d;
  d.nics = {down};
  EXPECT_EQ(vm::network_adapters(d, {}).size(), 8U); // PIIX3
  d.machine = "pc-q35-7.2";
  auto slots = vm::network_adapters(d, {});
  ASSERT_EQ(slots.size(), 36U); // ICH9
  EXPECT_TRUE(slots[0].enabled);
  EXPECT_FALSE(slots[1].enabled);
  d.nics.assign(40, down);
  EXPECT_EQ(vm::network_adapters(d, {}).size(), 40U);
  EXPECT_EQ(vm::network_part("192.168.122.77", 24), "192.168.122.0");
  EXPECT_EQ(vm::network_part("fd00:dead:beef:1::1", 64), "fd00:dead:beef:1::");
}

TEST(GuestPropertyFlagsTest, ParsedAndWrittenAsGuestPropertySvcDoes) {
  EXPECT_EQ(vm::parse_guest_property_flags(""), 0U);
  EXPECT_EQ(vm::parse_guest_property_flags("  "), 0U);
  auto f = vm::parse_guest_property_flags(" transient , RDONLYHOST");
  ASSERT_TRUE(f);
  EXPECT_EQ(vm::guest_property_flags_text(*f), "TRANSIENT, RDONLYHOST");
  EXPECT_EQ(vm::guest_property_flags_text(*vm::parse_guest_property_flags("TRANSRESET")),
            "TRANSIENT, TRANSRESET");
  EXPECT_EQ(
      vm::guest_property_flags_text(*vm::parse_guest_property_flags("RDONLYGUEST,RDONLYHOST")),
      "READONLY");
  EXPECT_FALSE(vm::parse_guest_property_flags("BOGUS"));
  EXPECT_FALSE(vm::parse_guest_property_flags("TRANSIENT;READONLY"));
  EXPECT_FALSE(vm::parse_guest_property_flags("TRANSIENTX"));
}

TEST(GuestPropertyPatternTest, SimplePatternMultiMatch) {
  EXPECT_TRUE(vm::pattern_multi_match("*", "/a"));
  EXPECT_TRUE(vm::pattern_multi_match("/a/*/IP", "/a/0/V4/IP"));
  EXPECT_TRUE(vm::pattern_multi_match("/x|/a/?", "/a/1"));
  EXPECT_FALSE(vm::pattern_multi_match("/a/?", "/a/10"));
  EXPECT_FALSE(vm::pattern_multi_match("/a,/b", "/a")); // ',' is no separator
  EXPECT_TRUE(vm::pattern_multi_match("/a,/b", "/a,/b"));
}

struct GuestPropTest : CliTest {
  GuestPropTest() {
    auto& v = hv.add("web", "00000000-0000-4000-8000-000000000001");
    v.state = backend::VmState::Running;
    v.ref.id = 7;
    DomainNic nat{"network", "default", "virtio", "52:54:00:00:00:01", true, 0, 0, ""};
    DomainNic br{"bridge", "br0", "e1000", "52:54:00:00:00:02", false, 0, 0, ""};
    v.details.nics = {nat, br};
  }
  FakeHypervisor::Vm& web() { return hv.vm("web"); }
  std::vector<std::string> sources_asked() {
    std::vector<std::string> asked;
    for (const auto& c : hv.calls) {
      if (c.starts_with("interface_addresses")) {
        asked.push_back(c);
      }
    }
    return asked;
  }
};

TEST_F(GuestPropTest, EachAdapterTakesTheFirstSourceWithAnAddressForItsMac) {
  web().addresses[AddressSource::Lease] = {
      GuestInterface{"vnet0", "52:54:00:00:00:01", {{"192.168.122.50", 24}}}};
  web().addresses[AddressSource::Arp] = {
      GuestInterface{"vnet0", "52:54:00:00:00:01", {{"192.168.122.99", 0}}},
      GuestInterface{"vnet1", "52:54:00:00:00:02", {{"10.1.1.7", 0}}}};
  web().addresses[AddressSource::Agent] = {
      GuestInterface{"lo", "00:00:00:00:00:00", {{"127.0.0.1", 8}}},
      GuestInterface{"eth1", "52:54:00:00:00:02", {{"10.1.1.8", 16}}}};
  EXPECT_EQ(run("guestproperty enumerate web --no-timestamp"), 0);
  EXPECT_EQ(out.stdout_text, "/VirtualBox/GuestInfo/Net/0/MAC          = '525400000001'\n"
                             "/VirtualBox/GuestInfo/Net/0/Status       = 'Up'\n"
                             "/VirtualBox/GuestInfo/Net/0/V4/Broadcast = '192.168.122.255'\n"
                             "/VirtualBox/GuestInfo/Net/0/V4/IP        = '192.168.122.50'\n"
                             "/VirtualBox/GuestInfo/Net/0/V4/Netmask   = '255.255.255.0'\n"
                             "/VirtualBox/GuestInfo/Net/1/MAC          = '525400000002'\n"
                             "/VirtualBox/GuestInfo/Net/1/Status       = 'Down'\n"
                             "/VirtualBox/GuestInfo/Net/1/V4/IP        = '10.1.1.7'\n"
                             "/VirtualBox/GuestInfo/Net/Count          = '2'\n");
  // Every adapter had its address after ARP: the agent was not asked.
  EXPECT_EQ(sources_asked(),
            (std::vector<std::string>{"interface_addresses web 0", "interface_addresses web 1"}));
}

TEST_F(GuestPropTest, TheAgentNamesTheInterfaceAndNumbersOnlyAdaptersWithAnAddress) {
  web().addresses[AddressSource::Agent] = {
      GuestInterface{"eth1", "52:54:00:00:00:02", {{"10.1.1.8", 16}}},
      GuestInterface{"docker0", "02:42:ac:11:00:01", {{"172.17.0.1", 16}}}};
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/Net/0/V4/IP"), 0);
  EXPECT_EQ(out.stdout_text, "Value: 10.1.1.8\n");
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/Net/0/Name"), 0);
  EXPECT_EQ(out.stdout_text, "Value: eth1\n");
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/Net/0/V4/Broadcast"), 0);
  EXPECT_EQ(out.stdout_text, "Value: 10.1.255.255\n");
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/Net/1/V4/IP"), 0);
  EXPECT_EQ(out.stdout_text, "Value: 172.17.0.1\n");
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/Net/Count"), 0);
  EXPECT_EQ(out.stdout_text, "Value: 2\n");
}

TEST_F(GuestPropTest, NoAddressYetCountsZeroAndAStoppedGuestHasNone) {
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/Net/Count"), 0);
  EXPECT_EQ(out.stdout_text, "Value: 0\n");
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/Net/0/V4/IP"), 0);
  EXPECT_EQ(out.stdout_text, "No value set!\n");
  web().state = backend::VmState::PoweredOff;
  web().ref.id = -1;
  web().addresses[AddressSource::Lease] = {
      GuestInterface{"vnet0", "52:54:00:00:00:01", {{"192.168.122.50", 24}}}};
  hv.calls.clear();
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/Net/Count"), 0);
  EXPECT_EQ(out.stdout_text, "No value set!\n");
  EXPECT_TRUE(sources_asked().empty());
}

TEST_F(GuestPropTest, OsPropertiesFromTheGuestAgent) {
  web().os_info = backend::GuestOsInfo{"debian", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64",
                                       "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1"};
  EXPECT_EQ(run("guestproperty enumerate web -T /VirtualBox/GuestInfo/OS/*"), 0);
  EXPECT_EQ(out.stdout_text,
            "/VirtualBox/GuestInfo/OS/Product = 'Linux'\n"
            "/VirtualBox/GuestInfo/OS/Release = '6.1.0-18-amd64'\n"
            "/VirtualBox/GuestInfo/OS/Version = '#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1'\n");
  web().os_info = backend::GuestOsInfo{"mswindows", "Windows 10 Pro", "19045", "10.0"};
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/OS/Release"), 0);
  EXPECT_EQ(out.stdout_text, "Value: 10.0.19045\n");
  EXPECT_EQ(run("guestproperty get web /VirtualBox/GuestInfo/OS/Product"), 0);
  EXPECT_EQ(out.stdout_text, "Value: Windows 10 Pro\n");
}

TEST_F(GuestPropTest, StoredValuesTransientOnesLiveForTheirRun) {
  EXPECT_EQ(run("guestproperty set web /a 1 --flags TRANSIENT"), 0);
  EXPECT_EQ(run("guestproperty set web /b 2"), 0);
  EXPECT_EQ(run("guestproperty enumerate web -o /?"), 0);
  EXPECT_EQ(out.stdout_text,
            "Name: /a, value: 1, timestamp: 1700000000123000000, flags: TRANSIENT\n"
            "Name: /b, value: 2, timestamp: 1700000000123000000, flags: \n");
  web().ref.id = 8; // a new run
  EXPECT_EQ(run("guestproperty get web /a"), 0);
  EXPECT_EQ(out.stdout_text, "No value set!\n");
  EXPECT_EQ(run("guestproperty get web /b"), 0);
  EXPECT_EQ(out.stdout_text, "Value: 2\n");
  // The name limits are Main's: 63 bytes at most, values under 1024 bytes.
  EXPECT_EQ(run_args({"guestproperty", "set", "web", "/" + std::string(62, 'n'), "v"}), 0);
  EXPECT_EQ(run_args({"guestproperty", "set", "web", "/" + std::string(63, 'n'), "v"}), 1);
  EXPECT_EQ(first_err_line(), "VBoxManage: error: VERR_INVALID_PARAMETER");
  EXPECT_EQ(run_args({"guestproperty", "set", "web", "/v", std::string(1023, 'v')}), 0);
  EXPECT_EQ(run_args({"guestproperty", "set", "web", "/v", std::string(1024, 'v')}), 1);
  EXPECT_EQ(first_err_line(), "VBoxManage: error: VERR_TOO_MUCH_DATA");
}

TEST_F(GuestPropTest, RelativeTimes) {
  EXPECT_EQ(run("guestproperty set web /a 1"), 0);
  now += 3723004; // 1 h 2 min 3.004 s later
  EXPECT_EQ(run("guestproperty enumerate web --relative /a"), 0);
  EXPECT_EQ(out.stdout_text, "/a = '1' @ 1h 02m 03.004s\n");
  EXPECT_EQ(run("guestproperty enumerate web -t -a /a"), 0);
  EXPECT_EQ(out.stdout_text, "/a = '1' @ 2023-11-14T22:13:20.123Z\n");
}

TEST_F(GuestPropTest, WaitReportsTheFirstChangeOfAMatchingProperty) {
  on_sleep = [this] {
    if (now >= 1700000003000) {
      web().addresses[AddressSource::Lease] = {
          GuestInterface{"vnet0", "52:54:00:00:00:01", {{"192.168.122.50", 24}}}};
    }
  };
  EXPECT_EQ(run("guestproperty wait web /VirtualBox/GuestInfo/Net/0/V4/IP --timeout 10000"), 0);
  EXPECT_EQ(out.stdout_text, "Name: /VirtualBox/GuestInfo/Net/0/V4/IP, value: 192.168.122.50, "
                             "flags: \n");
  EXPECT_LT(now, 1700000005000);
  // A deletion.
  on_sleep = [this] {
    if (now >= 1700000008000) {
      web().addresses.clear();
    }
  };
  EXPECT_EQ(run("guestproperty wait web */V4/IP"), 0);
  EXPECT_EQ(out.stdout_text, "Property /VirtualBox/GuestInfo/Net/0/V4/IP was deleted\n");
}

TEST_F(GuestPropTest, WaitTimesOutOrIsInterrupted) {
  std::int64_t start = now;
  EXPECT_EQ(run("guestproperty wait web /x --timeout 2500 --fail-on-timeout"), 2);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: error: Time out or interruption while waiting for a notification.\n");
  EXPECT_EQ(now - start, 2500);
  stop_after_sleeps = sleeps + 3;
  EXPECT_EQ(run("guestproperty wait web /x"), 130);
  EXPECT_EQ(out.stderr_text,
            "VBoxManage: error: Time out or interruption while waiting for a notification.\n");
}

} // namespace
} // namespace vbm::test
