// Editing the memory part of domain XML: values, units, flags, and nothing else touched.

#include "backend/domain_xml.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>

using testing::HasSubstr;
using testing::Not;

namespace vbm::test {
namespace {

constexpr const char* k_xml = R"(<domain type='qemu'>
  <name>d</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <memory unit='GiB'>1</memory>
  <currentMemory unit='MiB'>768</currentMemory>
  <memoryBacking>
    <locked/>
  </memoryBacking>
  <os><type arch='x86_64'>hvm</type><cmdline>console=ttyS0 a&amp;b</cmdline></os>
  <devices>
    <memballoon model='virtio'><stats period='2'/></memballoon>
  </devices>
</domain>)";

// What the VM metrics count (Machine::i_getDiskList: hard disks only, not CD-ROMs or floppies).
TEST(DomainXml, DevicesAreHardDisksAndInterfaces) {
  auto d = backend::parse_domain_devices(R"(<domain><devices>
    <disk type='file' device='disk'><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>
    <disk type='file'><target dev='vdb'/></disk>
    <disk type='file' device='floppy'><target dev='fda'/></disk>
    <interface type='network'><target dev='vnet3'/></interface>
    <interface type='user'/>
  </devices></domain>)");
  EXPECT_EQ(d.disks, (std::vector<std::string>{"vda", "vdb"}));
  EXPECT_EQ(d.nics, std::vector<std::string>{"vnet3"}); // no host device: no counters
  EXPECT_THROW(backend::parse_domain_devices("<domain"), backend::BackendError);
}

TEST(DomainXml, ParsesUnitsAndFlags) {
  auto m = backend::parse_domain_memory(k_xml);
  EXPECT_EQ(m.memory_kib, 1048576u);
  EXPECT_EQ(m.current_kib, 786432u);
  EXPECT_FALSE(m.nosharepages);
  EXPECT_FALSE(m.hugepages);
  EXPECT_TRUE(m.balloon_device);
}

TEST(DomainXml, CurrentDefaultsToMemoryAndBalloonNone) {
  auto m = backend::parse_domain_memory(
      "<domain><memory>2048</memory><devices><memballoon model='none'/></devices></domain>");
  EXPECT_EQ(m.current_kib, 2048u);
  EXPECT_FALSE(m.balloon_device);
  EXPECT_EQ(
      backend::parse_domain_memory("<domain><memory unit='b'>1048576</memory></domain>").memory_kib,
      1024u);
}

TEST(DomainXml, ApplyWritesKibAndFlagsAndKeepsTheRest) {
  backend::DomainMemory want{524288, 421888, true, true, true};
  auto xml = backend::apply_domain_memory(k_xml, want);
  EXPECT_THAT(xml, HasSubstr("<memory unit=\"KiB\">524288</memory>"));
  EXPECT_THAT(xml, HasSubstr("<currentMemory unit=\"KiB\">421888</currentMemory>"));
  EXPECT_THAT(xml, HasSubstr("<locked />"));
  EXPECT_THAT(xml, HasSubstr("<nosharepages />"));
  EXPECT_THAT(xml, HasSubstr("<hugepages />"));
  EXPECT_THAT(xml, HasSubstr("console=ttyS0 a&amp;b"));
  EXPECT_THAT(xml, HasSubstr("<stats period=\"2\" />"));
  EXPECT_EQ(backend::parse_domain_memory(xml), want);
}

TEST(DomainXml, RemovingLastFlagRemovesMemoryBacking) {
  auto on = backend::apply_domain_memory("<domain><memory>1</memory></domain>",
                                         {1024, 1024, true, false, true});
  EXPECT_THAT(on, HasSubstr("<memoryBacking>"));
  auto off = backend::apply_domain_memory(on, {1024, 1024, false, false, true});
  EXPECT_THAT(off, Not(HasSubstr("memoryBacking")));
}

TEST(DomainXml, ApplyReplacesAValueMadeOfSeveralTexts) {
  // Found by tests/fuzz/fuzz_domain_xml: a value split by CDATA (or by a dropped comment or
  // processing instruction) is several text nodes; apply set only the first, so the others
  // were glued to the new number.
  backend::DomainMemory want{2048, 1024, false, false, true};
  auto xml = backend::apply_domain_memory(
      "<domain><memory>1<![CDATA[0]]>24</memory><currentMemory>5<?pi?>12</currentMemory></domain>",
      want);
  EXPECT_THAT(xml, HasSubstr("<memory unit=\"KiB\">2048</memory>"));
  EXPECT_EQ(backend::parse_domain_memory(xml), want);
}

TEST(DomainXml, ApplyReplacesARepeatedUnit) {
  // Found by tests/fuzz/fuzz_domain_xml: pugixml loads a repeated attribute, and apply removed
  // only the first unit, so its "KiB" came after the old one, which parse then read.
  backend::DomainMemory want{2048, 1024, false, false, true};
  auto xml = backend::apply_domain_memory(
      "<domain><memory unit='MiB' unit='GiB'>1</memory><currentMemory unit='x' unit='y'>1"
      "</currentMemory></domain>",
      want);
  EXPECT_THAT(xml, HasSubstr("<memory unit=\"KiB\">2048</memory>"));
  EXPECT_EQ(backend::parse_domain_memory(xml), want);
}

TEST(DomainXml, BadXmlIsABackendError) {
  EXPECT_THROW(backend::parse_domain_memory("<domain><memory>"), backend::BackendError);
  EXPECT_THROW(backend::parse_domain_memory("<other/>"), backend::BackendError);
  EXPECT_THROW(backend::parse_domain_memory("<domain><memory unit='parsecs'>1</memory></domain>"),
               backend::BackendError);
  EXPECT_THROW(backend::parse_domain_memory("<domain><memory>12abc</memory></domain>"),
               backend::BackendError);
  EXPECT_THROW(backend::parse_domain_memory("<domain></domain>"), backend::BackendError);
}

// `list hostinfo`'s host facts: cores are distinct (socket, die, core) triples, online ones
// those of online CPUs; an offline CPU without topology is skipped; KVM from a guest domain.
TEST(DomainXml, HostCapabilities) {
  constexpr const char* caps = R"(<capabilities><host><cpu><arch>x86_64</arch></cpu>
    <topology><cells num='1'><cell id='0'><cpus num='5'>
      <cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0-1'/>
      <cpu id='1' socket_id='0' die_id='0' core_id='0' siblings='0-1'/>
      <cpu id='2' socket_id='0' die_id='0' core_id='1' siblings='2-3'/>
      <cpu id='3' socket_id='0' die_id='0' core_id='1' siblings='2-3'/>
      <cpu id='4'/>
    </cpus></cell></cells></topology></host>
    <guest><arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch></guest>
  </capabilities>)";
  backend::HostInfo h;
  backend::parse_host_capabilities(caps, {true, true, false, false, false}, h);
  EXPECT_TRUE(h.is_64bit);
  EXPECT_TRUE(h.long_mode);
  EXPECT_TRUE(h.pae);
  EXPECT_TRUE(h.kvm);
  EXPECT_EQ(h.cores_present, 2u);
  EXPECT_EQ(h.cores_online, 1u);
  backend::HostInfo i686;
  backend::parse_host_capabilities(R"(<capabilities><host><cpu><arch>i686</arch>
    <features><pae/></features></cpu></host>
    <guest><arch name='i686'><domain type='qemu'/></arch></guest></capabilities>)",
                                   {}, i686);
  EXPECT_FALSE(i686.long_mode);
  EXPECT_TRUE(i686.pae);
  EXPECT_FALSE(i686.kvm);
  EXPECT_EQ(i686.cores_present, 0u);
  EXPECT_THROW(backend::parse_host_capabilities("<domain/>", {}, i686), backend::BackendError);
}

TEST(DomainXml, NestedVirtIsTheHostModelsVmxOrSvm) {
  auto domcaps = [](const char* feature) {
    return fmt::format(R"(<domainCapabilities><cpu>
      <mode name='host-passthrough' supported='yes'/>
      <mode name='host-model' supported='yes'><model>EPYC</model>{}</mode>
    </cpu></domainCapabilities>)",
                       feature);
  };
  EXPECT_TRUE(backend::parse_nested_virt(domcaps("<feature policy='require' name='svm'/>")));
  EXPECT_TRUE(backend::parse_nested_virt(domcaps("<feature policy='require' name='vmx'/>")));
  EXPECT_FALSE(backend::parse_nested_virt(domcaps("<feature policy='disable' name='vmx'/>")));
  EXPECT_FALSE(backend::parse_nested_virt(domcaps("<feature policy='require' name='x2apic'/>")));
}

TEST(DomainXml, HostInterface) {
  auto i = backend::parse_host_interface(R"(<interface type='ethernet' name='eth0'>
    <link speed='1000' state='up'/><mac address='02:fc:00:00:00:01'/>
    <protocol family='ipv6'><ip address='fd00::2' prefix='48'/><ip address='fe80::1'/></protocol>
    <protocol family='ipv4'><ip address='192.0.2.2' prefix='24'/></protocol>
  </interface>)");
  EXPECT_EQ(i.name, "eth0");
  EXPECT_EQ(i.mac, "02:fc:00:00:00:01");
  EXPECT_EQ(i.ipv4_address, "192.0.2.2");
  EXPECT_EQ(i.ipv4_prefix, 24u);
  EXPECT_EQ(i.ipv6_address, "fd00::2");
  EXPECT_EQ(i.ipv6_prefix, 48u);
  auto bare = backend::parse_host_interface("<interface type='ethernet' name='lo'/>");
  EXPECT_EQ(bare.ipv4_address, std::nullopt);
  EXPECT_EQ(bare.mac, "");
}

} // namespace
} // namespace vbm::test
