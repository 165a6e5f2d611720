#pragma once
// A domain's network interfaces as VirtualBox's network adapters (INetworkAdapter): which
// attachment, adapter type, MAC and cable a libvirt <interface> amounts to, and how many adapter
// slots the machine has. The mapping is documented in the spec (kvm-mapping, network adapters).

#include "backend/hypervisor.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace vbm::vm {

/// NetworkAttachmentType: what an adapter is attached to.
enum class Attachment { Nat, Bridged, Internal, HostOnly, Generic };

/// One adapter slot (INetworkAdapter), as showVMInfo reads it.
struct NetworkAdapter {
  bool enabled = false; ///< false: an empty slot (showvminfo's "disabled" / nicN="none")
  Attachment attachment = Attachment::Nat;
  /// What it is attached to: the NAT engine's network (Nat; "" is VirtualBox's default), the
  /// host interface (Bridged, HostOnly), the network's name (Internal), the driver (Generic).
  std::string attached_to;
  std::string mac;             ///< 12 upper-case hex digits, no separators; "" when unknown
  bool cable_connected = true; ///< libvirt's <link state>
  std::string type;            ///< NetworkAdapterType as showVMInfo names it; "unknown"
  unsigned mtu = 0;            ///< the NAT engine's MTU (<mtu size>; 0 = default)
  unsigned boot_priority = 0;  ///< <boot order>
  bool operator==(const NetworkAdapter&) const = default;
};

/// Global::getMaxNetworkAdapters for the domain's chipset: ICH9 (a q35 machine) 36, PIIX3
/// (i440fx and anything else) 8.
unsigned max_network_adapters(std::string_view machine);

/// showVMInfo's adapter type name for a libvirt <model type>: the emulated chip where
/// VirtualBox has the same one, else "unknown" (VirtualBox's word for a type it cannot name).
std::string vbox_adapter_type(std::string_view model);

/// A libvirt MAC (52:54:00:ab:cd:ef, any case) as VirtualBox writes it (525400ABCDEF); "" for
/// anything that is not six hex pairs.
std::string vbox_mac(std::string_view libvirt_mac);

/// The network part of an address and prefix ("192.168.122.1", 24 -> "192.168.122.0"),
/// IPv4 or IPv6; "" for an address that does not parse.
std::string network_part(std::string_view address, unsigned prefix);

/// The adapter a libvirt <interface> amounts to, given the connection's networks.
NetworkAdapter network_adapter(const backend::DomainNic& nic,
                               const std::vector<backend::NetworkInfo>& networks);

/// Every adapter slot of the machine: its interfaces in document order, then empty slots up to
/// the chipset's maximum (more interfaces than that are all listed).
std::vector<NetworkAdapter> network_adapters(const backend::DomainDetails& details,
                                             const std::vector<backend::NetworkInfo>& networks);

} // namespace vbm::vm
