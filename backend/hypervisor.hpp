#pragma once
// The seam between the VirtualBox-compatible front end and the machine manager.
// Abstract so tests can use FakeHypervisor; the real one is LibvirtHypervisor.

#include "sys/error.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vbm::backend {

/// A failure reported by the hypervisor connection (libvirt's error number and text).
class BackendError : public Error {
public:
  explicit BackendError(const std::string& what, bool connection_lost = false)
      : Error(what), m_connection_lost(connection_lost) {}
  /// The connection broke during the call (libvirtd went away): whether the call took effect
  /// is unknown.
  bool connection_lost() const { return m_connection_lost; }

private:
  bool m_connection_lost;
};

/// VirtualBox machine states that libvirt domain states map onto (kvm-mapping.md).
enum class VmState { PoweredOff, Saved, Aborted, Running, Paused, Stopping, Unknown };

/// A domain on the connection, as found by list_vms or find_vm.
struct VmRef {
  std::string name;
  std::string uuid; ///< lowercase, no braces
  int id = -1;      ///< the running domain's ID (start order); -1 when inactive
};

/// The sizing part of a domain's persistent configuration (memory, and the vCPU count that
/// modifyvm's --cpus sets beside it), in libvirt's terms.
struct DomainMemory {
  std::uint64_t memory_kib = 0;     ///< <memory>
  std::uint64_t current_kib = 0;    ///< <currentMemory>: the balloon target at every start
  bool nosharepages = false;        ///< <memoryBacking><nosharepages/>: QEMU mem-merge=off
  bool hugepages = false;           ///< <memoryBacking><hugepages/>
  bool balloon_device = true;       ///< false for <memballoon model='none'> (read only)
  std::uint32_t vcpus = 1;          ///< <vcpu>: the maximum vCPU count
  std::uint32_t current_vcpus = 1;  ///< <vcpu current=…>: the vCPUs online at start (≤ vcpus)
  bool free_page_reporting = false; ///< <memballoon freePageReporting='on'>
  bool autodeflate = false;         ///< <memballoon autodeflate='on'>: deflate on OOM
  /// <hugepages> names its page sizes (<page size=…>): the admin chose them (read only)
  bool hugepages_sized = false;
  bool operator==(const DomainMemory&) const = default;
};

/// One <interface> of a domain's persistent definition, in libvirt's terms.
struct DomainNic {
  std::string type;        ///< <interface type>: network, bridge, direct, user, ethernet, …
  std::string source;      ///< its <source network|bridge|dev>; "" when it has none
  std::string model;       ///< <model type>; "" when not given
  std::string mac;         ///< <mac address> as libvirt writes it (52:54:00:…); "" when absent
  bool link_up = true;     ///< false for <link state='down'/>
  unsigned mtu = 0;        ///< <mtu size>; 0 when not given
  unsigned boot_order = 0; ///< <boot order>; 0 when not given
  /// type='user': its IPv4 <ip address prefix> as "a.b.c.d/prefix" (the NAT's own network);
  /// "" when not given (QEMU's default 10.0.2.0/24).
  std::string user_network;
  bool operator==(const DomainNic&) const = default;
};

/// What showvminfo reads about a domain besides its sizing. Absent where libvirt does not say.
struct DomainDetails {
  std::string arch; ///< <os><type arch=…> of the persistent definition; "" when not given
  std::optional<std::string> libosinfo_os;      ///< <metadata><libosinfo:os id=…>
  std::optional<std::string> config_file;       ///< where libvirt keeps the persistent definition
  std::optional<std::string> managed_save_file; ///< the managed-save image, when there is one
  std::string machine; ///< <os><type machine=…> (pc-i440fx-…, pc-q35-…); "" when not given
  std::vector<DomainNic> nics; ///< its <interface> elements, in document order
  bool operator==(const DomainDetails&) const = default;
};

/// What the guest's balloon driver and QEMU report (virDomainMemoryStats); absent when not
/// reported.
struct BalloonStats {
  std::optional<std::uint64_t> actual_kib; ///< the balloon's current size as memory the guest has
  std::optional<std::uint64_t> unused_kib; ///< guest-reported free memory
  std::optional<std::uint64_t> available_kib; ///< guest-reported total usable memory
  std::optional<std::uint64_t> usable_kib;
  std::optional<std::uint64_t> disk_caches_kib;
  std::optional<std::uint64_t> rss_kib;      ///< QEMU's resident set on the host
  std::optional<std::int64_t> last_update;   ///< 0: statistics enabled but the guest never reported
  std::optional<std::uint64_t> major_faults; ///< counter: pages read from disk on a fault
  std::optional<std::uint64_t> swap_in_kib;  ///< counter: memory swapped in
};

/// One running domain's figures from the bulk statistics call, for the metrics collector.
struct DomainStats {
  VmRef vm;
  std::optional<std::uint64_t> maximum_kib; ///< the balloon's ceiling: the live <memory>
  BalloonStats balloon;                     ///< actual_kib is the balloon's current size
  std::optional<std::uint64_t> cpu_user_ns;
  std::optional<std::uint64_t> cpu_system_ns;
};

/// One hard disk of a running domain (a <disk device='disk'>; CD-ROMs and floppies are not
/// counted, as VirtualBox's Machine::i_getDiskList counts only hard disks).
struct DomainDiskStats {
  std::string target;                          ///< <target dev>, e.g. "vda"
  std::optional<std::uint64_t> physical_bytes; ///< the image's size on the host
};

/// One network interface of a running domain, counters from the guest's side.
struct DomainNicStats {
  std::string target; ///< the host-side device, e.g. "vnet0"
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;
};

/// A running domain's disks and network interfaces (the VM metrics Disk/Usage and Net/Rate).
struct DomainIoStats {
  VmRef vm;
  std::vector<DomainDiskStats> disks;
  std::vector<DomainNicStats> nics;
};

/// What libvirt reports about the host itself (virNodeGet*): the metrics source for a host
/// that is not this machine. Absent where the driver does not say.
struct NodeStats {
  std::optional<std::uint64_t> mem_total_kib;
  std::optional<std::uint64_t> mem_free_kib;
  std::optional<std::uint64_t> mem_buffers_kib;
  std::optional<std::uint64_t> mem_cached_kib;
  std::optional<std::uint64_t> cpu_user_ns;
  std::optional<std::uint64_t> cpu_kernel_ns;
  std::optional<std::uint64_t> cpu_idle_ns;
  std::optional<std::uint64_t> cpu_iowait_ns;
  std::optional<std::uint64_t> cpu_mhz;
  std::optional<std::uint64_t> ksm_pages_shared; ///< shm_pages_shared (node memory parameters)
  unsigned cpus = 0;
};

/// A libvirt virtual network (virConnectListAllNetworks and its definition): the parts that
/// VirtualBox's NAT networks and DHCP servers have too. Absent where the definition has none.
struct NetworkInfo {
  std::string name;
  bool active = false;
  /// <forward mode>: "nat" (also libvirt's default for a bare <forward/>), "route", …; "" for
  /// an isolated network (no <forward>).
  std::string forward_mode;
  std::string bridge; ///< <bridge name>: the host's bridge its guests are attached to
  /// The host device of a macvtap or passthrough forward (<forward dev> or its first
  /// <interface dev>); "" when none.
  std::string forward_dev;
  std::optional<std::string> ipv4_address; ///< the host's address: the first IPv4 <ip>
  unsigned ipv4_prefix = 0;                ///< its netmask or prefix, as a prefix length
  std::optional<std::string> dhcp_start;   ///< that <ip>'s first <dhcp><range>
  std::optional<std::string> dhcp_end;
  /// That <dhcp>'s <host mac ip> entries (those with both).
  std::vector<std::pair<std::string, std::string>> dhcp_hosts;
  std::optional<std::string> ipv6_address; ///< the first IPv6 <ip>
  unsigned ipv6_prefix = 0;
};

/// A host network interface (virConnectListAllInterfaces and its definition): what VirtualBox
/// lists as a host interface for bridged networking. Addresses only where libvirt's interface
/// backend reports them (netcf does, udev does not).
struct HostInterfaceInfo {
  std::string name;
  std::string mac;     ///< "aa:bb:cc:dd:ee:ff" as libvirt writes it
  bool active = false; ///< up (virInterfaceIsActive: IFF_UP)
  std::optional<std::string> ipv4_address;
  unsigned ipv4_prefix = 0;
  std::optional<std::string> ipv6_address;
  unsigned ipv6_prefix = 0;
};

/// Where virDomainInterfaceAddresses gets a running guest's addresses from.
enum class AddressSource {
  Lease, ///< the DHCP leases of libvirt's own networks (dnsmasq)
  Arp,   ///< the host's ARP table
  Agent, ///< the QEMU guest agent in the guest
};

/// One interface of a running guest with its IPv4 addresses (virDomainInterfaceAddresses).
struct GuestInterface {
  std::string name; ///< the host's device (lease, ARP) or the guest's own name (agent)
  std::string mac;  ///< as libvirt gives it: lowercase, with colons; "" when unknown
  struct Address {
    std::string ip;
    unsigned prefix = 0; ///< 0 when the source does not say (ARP)
    bool operator==(const Address&) const = default;
  };
  std::vector<Address> ipv4;
  bool operator==(const GuestInterface&) const = default;
};

/// What the guest agent says about the guest's OS (virDomainGetGuestInfo, OS group); absent
/// where it does not say.
struct GuestOsInfo {
  std::optional<std::string> id;             ///< os.id: "ubuntu", "mswindows", …
  std::optional<std::string> pretty_name;    ///< os.pretty-name
  std::optional<std::string> kernel_release; ///< os.kernel-release (uname -r)
  std::optional<std::string> kernel_version; ///< os.kernel-version (uname -v)
  bool operator==(const GuestOsInfo&) const = default;
};

/// A change in a running domain's life that the page-fusion controller reacts to.
struct DomainEvent {
  enum class Kind { Started, Stopped, BalloonChanged };
  Kind kind;
  VmRef vm;
  std::uint64_t actual_kib = 0; ///< BalloonChanged: the memory the guest now has
};

enum class PowerAction {
  PowerOff,        ///< stop at once (virDomainDestroy)
  AcpiPowerButton, ///< ask the guest to shut down (virDomainShutdown: its agent, else ACPI)
  Pause,           ///< virDomainSuspend
  Resume,          ///< virDomainResume
  Reset,           ///< a hardware reset: the guest reboots (virDomainReset)
  SaveState,       ///< managed save: the domain stops, the next start resumes it running
};

/// The host's pool of huge pages of its default size (what <hugepages/> without a <page> takes).
struct HugePagePool {
  std::uint64_t page_kib = 0;    ///< 0: the host has no huge page size
  std::uint64_t total_pages = 0; ///< the pool (vm.nr_hugepages)
  std::uint64_t free_pages = 0;  ///< free and not promised to a mapping
};

/// The connection's driver and versions (virConnectGetType, virConnectGetVersion,
/// virConnectGetLibVersion: the daemon's libvirt on a remote connection), as major·10⁶ +
/// minor·10³ + release.
struct HypervisorVersion {
  std::string type; ///< "QEMU", "TEST", …
  std::uint64_t hypervisor = 0;
  std::uint64_t libvirt = 0;
};

struct HostInfo {
  bool is_64bit = true; ///< the hypervisor host's architecture is a 64-bit one
  /// Where the connection's driver keeps persistent domain definitions (VirtualBox's default
  /// machine folder): known only on a local qemu:///system connection.
  std::optional<std::string> machine_folder = std::nullopt;
  // What the host's hardware is (virNodeGetCPUMap, virNodeGetInfo, the capabilities' host CPU
  // and topology, and whether the driver can run KVM guests): `list hostinfo`.
  unsigned cpus_present = 0;
  unsigned cpus_online = 0;
  unsigned cores_present = 0; ///< distinct (socket, die, core) of the topology
  unsigned cores_online = 0;
  std::uint64_t cpu_mhz = 0; ///< 0: not known
  std::uint64_t memory_kib = 0;
  bool pae = false;       ///< a 64-bit x86 host, or the host CPU lists the pae feature
  bool long_mode = false; ///< an x86_64 host
  bool kvm = false;       ///< the driver runs guests under KVM (a <domain type='kvm'/>)
  /// KVM guests can run hardware virtualization themselves (the host-model CPU offered to
  /// KVM guests requires vmx or svm); nullopt where the domain capabilities are not known.
  std::optional<bool> nested_kvm = std::nullopt;
};

class Hypervisor {
public:
  virtual ~Hypervisor() = default;

  /// The host name that, with a domain UUID, keys the settings store.
  virtual std::string hostname() = 0;
  virtual HostInfo host_info() = 0;
  /// Every domain on the connection, active or not, in the driver's order.
  virtual std::vector<VmRef> list_vms() = 0;
  /// VirtualBox's FindMachine rule: a UUID-shaped argument (braces optional) looks up by
  /// UUID only; anything else is an exact, case-sensitive name. nullopt when absent.
  std::optional<VmRef> find_vm(std::string_view name_or_uuid);
  virtual VmState state(const VmRef& vm) = 0;
  /// The persistent (inactive) configuration's memory settings.
  virtual DomainMemory persistent_memory(const VmRef& vm) = 0;
  /// The OS metadata of the persistent definition and the files libvirt keeps for the domain
  /// (the paths only where they are known: a local qemu:///system connection).
  virtual DomainDetails domain_details(const VmRef& vm) = 0;
  /// Writes the memory settings and the vCPU counts into the persistent configuration.
  virtual void set_persistent_memory(const VmRef& vm, const DomainMemory& mem) = 0;
  /// The running domain's memory configuration (live XML; current_kib follows the guest).
  virtual DomainMemory live_memory(const VmRef& vm) = 0;
  /// Sets the running guest's balloon target (LIVE only, not persisted, as in VirtualBox).
  virtual void set_live_balloon_target(const VmRef& vm, std::uint64_t target_kib) = 0;
  virtual BalloonStats balloon_stats(const VmRef& vm) = 0;
  /// Starts (or restores from a managed save) a defined domain. Returns it with its new ID.
  virtual VmRef start(const VmRef& vm) = 0;
  /// Starts a powered-off domain for this run from its definition without <hugepages>
  /// (transparent huge pages instead); the definition itself is left as it is.
  virtual VmRef start_without_huge_pages(const VmRef& vm) = 0;
  virtual HypervisorVersion version() = 0;
  /// The huge page pool <hugepages/> would take from; nullopt when the driver does not say.
  virtual std::optional<HugePagePool> huge_page_pool() = 0;
  virtual void power(const VmRef& vm, PowerAction action) = 0;

  /// The connection's canonical URI (virConnectGetURI): how a later process reconnects.
  virtual std::string uri() = 0;
  /// Whether the hypervisor runs on this machine, so /proc and /sys describe its host.
  virtual bool is_local() = 0;
  /// Every running domain with its balloon and CPU figures: one bulk call where the driver
  /// has it (virConnectGetAllDomainStats), else one call per domain.
  virtual std::vector<DomainStats> running_domain_stats() = 0;
  virtual NodeStats node_stats() = 0;
  /// Every virtual network of the connection, active or not.
  virtual std::vector<NetworkInfo> list_networks() = 0;
  /// Every host network interface libvirt knows, active or not.
  virtual std::vector<HostInterfaceInfo> list_host_interfaces() = 0;
  /// Every running domain's hard disks and network interfaces: one bulk call where the driver
  /// has its block and interface groups, else one call per device.
  virtual std::vector<DomainIoStats> running_domain_io_stats() = 0;
  /// A running guest's interfaces with IPv4 addresses from `source`; nullopt when that source
  /// cannot answer (no guest agent, a source the driver lacks, the domain not running).
  /// Throws BackendError for anything else (the connection lost, …).
  virtual std::optional<std::vector<GuestInterface>> interface_addresses(const VmRef& vm,
                                                                         AddressSource source) = 0;
  /// The guest agent's OS information; nullopt when there is no agent to ask (none configured,
  /// not connected, the driver lacks the call, the domain not running). Throws BackendError.
  virtual std::optional<GuestOsInfo> guest_os_info(const VmRef& vm) = 0;
  /// Asks the running guest's balloon driver to report statistics every `seconds` (LIVE).
  virtual void set_memory_stats_period(const VmRef& vm, int seconds) = 0;

  /// Starts delivering domain lifecycle and balloon-change events. The connection must have
  /// been opened with `events` (open_hypervisor). Throws BackendError.
  virtual void watch_domain_events() = 0;
  /// Waits up to `timeout_ms` for domain events; returns those that arrived (maybe none).
  /// Throws BackendError, with connection_lost(), once the connection has closed.
  virtual std::vector<DomainEvent> wait_domain_events(int timeout_ms) = 0;

protected:
  virtual std::optional<VmRef> lookup_uuid(const std::string& uuid) = 0;
  virtual std::optional<VmRef> lookup_name(const std::string& name) = 0;
};

/// Normalises a UUID-shaped string (braces optional, any case) to lowercase without braces.
/// nullopt when it is not a UUID, or is the nil UUID (which VirtualBox treats as a name).
std::optional<std::string> parse_uuid(std::string_view text);

/// True if the architecture name is a 64-bit one.
bool is_64bit_arch(std::string_view arch);

/// Opens a libvirt connection; nullopt `uri` means libvirt's default (LIBVIRT_DEFAULT_URI, …).
/// `events`: the connection will watch domain events (libvirt's event loop is set up first).
/// Throws BackendError.
std::unique_ptr<Hypervisor> open_hypervisor(const std::optional<std::string>& uri, bool read_only,
                                            bool events = false);

} // namespace vbm::backend
