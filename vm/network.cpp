#include "vm/network.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cctype>

namespace vbm::vm {

namespace {
// libvirt/QEMU NIC models whose chip VirtualBox emulates too (NetworkAdapterType, named as
// showVMInfo prints them). QEMU's e1000 is the 82540EM, its pcnet the PCnet-PCI II
// (Am79C970A); e1000e (82574L), rtl8139 and the eepro100 family have no VirtualBox equivalent.
struct AdapterType {
  std::string_view model;
  std::string_view vbox;
};
constexpr AdapterType k_adapter_types[] = {
    {"virtio", "virtio"},
    {"virtio-transitional", "virtio"},
    {"virtio-non-transitional", "virtio"},
    {"e1000", "82540EM"},
    {"e1000-82545em", "82545EM"},
    {"pcnet", "Am79C970A"},
    {"ne2k_isa", "NE2000"},
};

const backend::NetworkInfo* find_network(const std::vector<backend::NetworkInfo>& networks,
                                         std::string_view name) {
  auto it = std::find_if(networks.begin(), networks.end(),
                         [&](const backend::NetworkInfo& n) { return n.name == name; });
  return it == networks.end() ? nullptr : &*it;
}

// <interface type='network'>: by what the libvirt network gives its guests.
void attach_to_network(NetworkAdapter& a, const backend::DomainNic& nic,
                       const std::vector<backend::NetworkInfo>& networks) {
  const auto* net = find_network(networks, nic.source);
  if (!net) { // an undefined network: all that is known is its name
    a.attachment = Attachment::Internal;
    a.attached_to = nic.source;
    return;
  }
  const auto& mode = net->forward_mode;
  if (mode == "nat") { // the guests reach out through the host's address: NAT
    a.attachment = Attachment::Nat;
    if (net->ipv4_address) {
      a.attached_to = fmt::format("{}/{}", network_part(*net->ipv4_address, net->ipv4_prefix),
                                  net->ipv4_prefix);
    }
  } else if (mode.empty()) { // isolated: the host and its guests only
    if (net->ipv4_address || net->ipv6_address) {
      a.attachment = Attachment::HostOnly;
      a.attached_to = net->bridge;
    } else { // not even the host has an address there: the guests only
      a.attachment = Attachment::Internal;
      a.attached_to = net->name;
    }
  } else { // route, open, bridge, macvtap modes: the guest is on a host interface's link
    a.attachment = Attachment::Bridged;
    a.attached_to = net->forward_dev.empty() ? net->bridge : net->forward_dev;
  }
}
} // namespace

unsigned max_network_adapters(std::string_view machine) {
  return machine.find("q35") != std::string_view::npos ? 36 : 8;
}

std::string vbox_adapter_type(std::string_view model) {
  for (const auto& t : k_adapter_types) {
    if (t.model == model) {
      return std::string(t.vbox);
    }
  }
  return "unknown";
}

std::string vbox_mac(std::string_view libvirt_mac) {
  std::string out;
  for (char c : libvirt_mac) {
    if (c == ':' || c == '-') {
      continue;
    }
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      return "";
    }
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out.size() == 12 ? out : "";
}

std::string network_part(std::string_view address, unsigned prefix) {
  std::array<unsigned char, 16> bytes{};
  std::array<char, INET6_ADDRSTRLEN> text{};
  std::string addr(address);
  int family = addr.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(family, addr.c_str(), bytes.data()) != 1) {
    return "";
  }
  unsigned size = family == AF_INET ? 4 : 16;
  for (unsigned i = 0; i < size; ++i) {
    unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;
    bytes[i] &= static_cast<unsigned char>(0xff00u >> keep);
  }
  return inet_ntop(family, bytes.data(), text.data(), text.size()) ? text.data() : "";
}

NetworkAdapter network_adapter(const backend::DomainNic& nic,
                               const std::vector<backend::NetworkInfo>& networks) {
  NetworkAdapter a;
  a.enabled = true;
  a.mac = vbox_mac(nic.mac);
  a.cable_connected = nic.link_up;
  a.type = vbox_adapter_type(nic.model);
  a.mtu = nic.mtu;
  a.boot_priority = nic.boot_order;
  if (nic.type == "network") {
    attach_to_network(a, nic, networks);
  } else if (nic.type == "user") { // QEMU's own NAT (slirp or passt)
    a.attachment = Attachment::Nat;
    a.attached_to = nic.user_network;
  } else if (nic.type == "bridge" || nic.type == "direct") { // a host bridge, macvtap on a NIC
    a.attachment = Attachment::Bridged;
    a.attached_to = nic.source;
  } else { // ethernet (a tap made elsewhere), vhostuser, udp, mcast, …: a driver of its own
    a.attachment = Attachment::Generic;
    a.attached_to = nic.type;
  }
  return a;
}

std::vector<NetworkAdapter> network_adapters(const backend::DomainDetails& details,
                                             const std::vector<backend::NetworkInfo>& networks) {
  std::vector<NetworkAdapter> out;
  for (const auto& nic : details.nics) {
    out.push_back(network_adapter(nic, networks));
  }
  out.resize(std::max<std::size_t>(out.size(), max_network_adapters(details.machine)));
  return out;
}

} // namespace vbm::vm
