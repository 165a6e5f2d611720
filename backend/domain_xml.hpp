#pragma once
// Reading and editing the memory part of a libvirt domain XML document, with pugixml.

#include "backend/hypervisor.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace vbm::backend {

/// Reads <memory>, <currentMemory>, <memoryBacking>, <memballoon> and <vcpu> from a domain XML.
/// Units are converted to KiB. Throws BackendError on XML it cannot read.
DomainMemory parse_domain_memory(std::string_view xml);

/// Reads <os><type arch=…> and the libosinfo OS id from <metadata> (the element in the
/// namespace http://libosinfo.org/xmlns/libvirt/domain/1.0, whatever its prefix). Only those two
/// fields of the result are set. Throws BackendError on XML it cannot read.
DomainDetails parse_domain_os(std::string_view xml);

/// Reads <os><type machine=…> and the <interface> elements (DomainDetails::machine and nics;
/// nothing else of the result is set). Throws BackendError on XML it cannot read.
DomainDetails parse_domain_nics(std::string_view xml);

/// Returns `xml` with <memory>, <currentMemory> (in KiB), the <nosharepages/> and <hugepages/>
/// flags, <vcpu> (its count and `current`) and <memballoon>'s freePageReporting and autodeflate
/// (a <memballoon model='virtio'> added when one is turned on and there is none) set to `mem`;
/// everything else is preserved.
/// Throws BackendError.
std::string apply_domain_memory(std::string_view xml, const DomainMemory& mem);

/// Returns `xml` without <memoryBacking><hugepages> (and without a <memoryBacking> left
/// empty): the definition a run on transparent huge pages is started from. Throws BackendError.
std::string without_huge_pages(std::string_view xml);

/// The devices of a domain XML that the VM metrics count: the targets of its hard disks
/// (<disk device='disk'>, the default) and of its network interfaces, in document order.
/// Throws BackendError on XML it cannot read.
struct DomainDevices {
  std::vector<std::string> disks;
  std::vector<std::string> nics;
};
DomainDevices parse_domain_devices(std::string_view xml);

/// Fills `host`'s architecture flags, core counts and KVM support from libvirt's capabilities
/// XML (virConnectGetCapabilities). `online[id]`: CPU `id` is online (empty: all are).
/// Throws BackendError on XML it cannot read.
void parse_host_capabilities(std::string_view caps, const std::vector<bool>& online,
                             HostInfo& host);

/// Whether the host-model CPU of libvirt's domain capabilities requires vmx or svm: KVM
/// guests can use hardware virtualization themselves. Throws BackendError.
bool parse_nested_virt(std::string_view domcaps);

/// A host interface definition (virInterfaceGetXMLDesc): name, MAC and the first address of
/// each family. `active` is left false. Throws BackendError.
HostInterfaceInfo parse_host_interface(std::string_view xml);

} // namespace vbm::backend
