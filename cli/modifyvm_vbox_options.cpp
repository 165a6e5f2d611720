// VirtualBox 7.0.14's modifyvm options (g_aModifyVMOptions, VBoxManageModifyVM.cpp lines
// 273-485, as built for Linux: the VBOX_WITH_VMNET, VBOX_WITH_SHARED_CLIPBOARD_TRANSFERS and
// VBOX_WITH_PCI_PASSTHROUGH rows are not compiled there). Data only: modifyvm refuses the ones
// vboxkvm does not manage as VirtualBox options, not as typos. One row per OPT1/OPT2 line, its
// spellings as VirtualBox has them (typos and repeats included), in table order.

#include "cli/modifyvm.hpp"

#include <cctype>

namespace vbm::cli {

namespace {
constexpr auto k_value = VboxOption::Value;
constexpr auto k_flag = VboxOption::Flag;
constexpr auto k_indexed = VboxOption::Indexed;

// clang-format off
constexpr VboxOption k_vbox_options[] = {
    {k_value, "--name", ""}, // MODIFYVM_NAME
    {k_value, "--groups", ""}, // MODIFYVM_GROUPS
    {k_value, "--description", ""}, // MODIFYVM_DESCRIPTION
    {k_value, "--os-type", "--ostype"}, // MODIFYVM_OSTYPE
    {k_value, "--icon-file", "--iconfile"}, // MODIFYVM_ICONFILE
    {k_value, "--memory", ""}, // MODIFYVM_MEMORY
    {k_value, "--page-fusion", "--pagefusion"}, // MODIFYVM_PAGEFUSION
    {k_value, "--vram", ""}, // MODIFYVM_VRAM
    {k_value, "--firmware", ""}, // MODIFYVM_FIRMWARE
    {k_value, "--acpi", ""}, // MODIFYVM_ACPI
    {k_value, "--ioapic", ""}, // MODIFYVM_IOAPIC
    {k_value, "--pae", ""}, // MODIFYVM_PAE
    {k_value, "--long-mode", "--longmode"}, // MODIFYVM_LONGMODE
    {k_value, "--cpuid-portability-level", ""}, // MODIFYVM_CPUID_PORTABILITY
    {k_value, "--triple-fault-reset", "--triplefaultreset"}, // MODIFYVM_TFRESET
    {k_value, "--apic", ""}, // MODIFYVM_APIC
    {k_value, "--x2apic", ""}, // MODIFYVM_X2APIC
    {k_value, "--paravirt-provider", "--paravirtprovider"}, // MODIFYVM_PARAVIRTPROVIDER
    {k_value, "--paravirt-debug", "--paravirtdebug"}, // MODIFYVM_PARAVIRTDEBUG
    {k_value, "--hwvirtex", ""}, // MODIFYVM_HWVIRTEX
    {k_value, "--nested-paging", "--nestedpaging"}, // MODIFYVM_NESTEDPAGING
    {k_value, "--large-pages", "--largepages"}, // MODIFYVM_LARGEPAGES
    {k_value, "--vtx-vpid", "--vtxvpid"}, // MODIFYVM_VTXVPID
    {k_value, "--vtx-ux", "--vtxux"}, // MODIFYVM_VTXUX
    {k_value, "--virt-vmsave-vmload", ""}, // MODIFYVM_VIRT_VMSAVE_VMLOAD
    {k_value, "--ibpb-on-vm-exit", ""}, // MODIFYVM_IBPB_ON_VM_EXIT
    {k_value, "--ibpb-on-vm-entry", ""}, // MODIFYVM_IBPB_ON_VM_ENTRY
    {k_value, "--spec-ctrl", ""}, // MODIFYVM_SPEC_CTRL
    {k_value, "--l1d-flush-on-sched", ""}, // MODIFYVM_L1D_FLUSH_ON_SCHED
    {k_value, "--l1d-flush-on-vm-entry", ""}, // MODIFYVM_L1D_FLUSH_ON_VM_ENTRY
    {k_value, "--mds-clear-on-sched", ""}, // MODIFYVM_MDS_CLEAR_ON_SCHED
    {k_value, "--mds-clear-on-vm-entry", ""}, // MODIFYVM_MDS_CLEAR_ON_VM_ENTRY
    {k_value, "--nested-hw-virt", ""}, // MODIFYVM_NESTED_HW_VIRT
    {k_value, "--cpuid-set", "--cpuidset"}, // MODIFYVM_SETCPUID
    {k_value, "--cpuid-remove", ""}, // MODIFYVM_DELCPUID
    {k_value, "--cpuidremove", ""}, // MODIFYVM_DELCPUID_OLD
    {k_flag, "--cpuid-remove-all", "--cpuidremoveall"}, // MODIFYVM_DELALLCPUID
    {k_value, "--cpus", ""}, // MODIFYVM_CPUS
    {k_value, "--cpu-hotplug", "--cpuhotplug"}, // MODIFYVM_CPUHOTPLUG
    {k_value, "--cpu-profile", ""}, // MODIFYVM_CPU_PROFILE
    {k_value, "--plug-cpu", "--plugcpu"}, // MODIFYVM_PLUGCPU
    {k_value, "--unplug-cpu", "--unplugcpu"}, // MODIFYVM_UNPLUGCPU
    {k_value, "--cpu-execution-cap", "--cpuexecutioncap"}, // MODIFYVM_CPU_EXECTUION_CAP
    {k_value, "--rtc-use-utc", "--rtcuseutc"}, // MODIFYVM_RTCUSEUTC
    {k_value, "--graphicscontroller", ""}, // MODIFYVM_GRAPHICSCONTROLLER
    {k_value, "--monitor-count", "--monitorcount"}, // MODIFYVM_MONITORCOUNT
    {k_value, "--accelerate-3d", "--accelerate3d"}, // MODIFYVM_ACCELERATE3D
    {k_value, "--accelerate-2d-video", "--accelerate2dvideo"}, // MODIFYVM_ACCELERATE2DVIDEO
    {k_value, "--bios-logo-fade-in", "--bioslogofadein"}, // MODIFYVM_BIOSLOGOFADEIN
    {k_value, "--bios-logo-fade-out", "--bioslogofadeout"}, // MODIFYVM_BIOSLOGOFADEOUT
    {k_value, "--bios-logo-display-time", "--bioslogodisplaytime"}, // MODIFYVM_BIOSLOGODISPLAYTIME
    {k_value, "--bios-logo-image-path", "--bioslogoimagepath"}, // MODIFYVM_BIOSLOGOIMAGEPATH
    {k_value, "--bios-boot-menu", "--biosbootmenu"}, // MODIFYVM_BIOSBOOTMENU
    {k_value, "--bios-system-time-offset", "--biossystemtimeoffset"}, // MODIFYVM_BIOSSYSTEMTIMEOFFSET
    {k_value, "--bios-apic", "--biosapic"}, // MODIFYVM_BIOSAPIC
    {k_value, "--bios-pxe-debug", "--biospxedebug"}, // MODIFYVM_BIOSPXEDEBUG
    {k_value, "--system-uuid-le", ""}, // MODIFYVM_SYSTEMUUIDLE
    {k_indexed, "--boot", ""}, // MODIFYVM_BOOT
    {k_value, "--hda", ""}, // MODIFYVM_HDA
    {k_value, "--hdb", ""}, // MODIFYVM_HDB
    {k_value, "--hdd", ""}, // MODIFYVM_HDD
    {k_value, "--idec-ontroller", "--idecontroller"}, // MODIFYVM_IDECONTROLLER
    {k_value, "--sata-port-count", "--sataportcount"}, // MODIFYVM_SATAPORTCOUNT
    {k_indexed, "--sata-port", "--sataport"}, // MODIFYVM_SATAPORT
    {k_value, "--sata", ""}, // MODIFYVM_SATA
    {k_indexed, "--scsi-port", "--scsiport"}, // MODIFYVM_SCSIPORT
    {k_value, "--scsi-type", "--scsitype"}, // MODIFYVM_SCSITYPE
    {k_value, "--scsi", ""}, // MODIFYVM_SCSI
    {k_value, "--dvd-pass-through", "--dvdpassthrough"}, // MODIFYVM_DVDPASSTHROUGH
    {k_value, "--dvd", ""}, // MODIFYVM_DVD
    {k_value, "--floppy", ""}, // MODIFYVM_FLOPPY
    {k_indexed, "--nic-trace-file", "--nictracefile"}, // MODIFYVM_NICTRACEFILE
    {k_indexed, "--nic-trace", "--nictrace"}, // MODIFYVM_NICTRACE
    {k_indexed, "--nic-property", "--nicproperty"}, // MODIFYVM_NICPROPERTY
    {k_indexed, "--nic-type", "--nictype"}, // MODIFYVM_NICTYPE
    {k_indexed, "--nic-speed", "--nicspeed"}, // MODIFYVM_NICSPEED
    {k_indexed, "--nic-boot-prio", "--nicbootprio"}, // MODIFYVM_NICBOOTPRIO
    {k_indexed, "--nic-promisc", "--nicpromisc"}, // MODIFYVM_NICPROMISC
    {k_indexed, "--nic-bandwidth-group", "--nicbandwidthgroup"}, // MODIFYVM_NICBWGROUP
    {k_indexed, "--nic", ""}, // MODIFYVM_NIC
    {k_indexed, "--cable-connected", "--cableconnected"}, // MODIFYVM_CABLECONNECTED
    {k_indexed, "--bridge-adapter", "--bridgeadapter"}, // MODIFYVM_BRIDGEADAPTER
    {k_indexed, "--cloud-network", "--cloudnetwork"}, // MODIFYVM_CLOUDNET
    {k_indexed, "--host-only-adapter", "--hostonlyadapter"}, // MODIFYVM_HOSTONLYADAPTER
    {k_indexed, "--intnet", ""}, // MODIFYVM_INTNET
    {k_indexed, "--nic-generic-drv", "--nicgenericdrv"}, // MODIFYVM_GENERICDRV
    {k_indexed, "--nat-network", "--natnetwork"}, // MODIFYVM_NATNETWORKNAME
    {k_indexed, "--nat-net", "--natnet"}, // MODIFYVM_NATNET
    {k_indexed, "--nat-bind-ip", "--natbindip"}, // MODIFYVM_NATBINDIP
    {k_indexed, "--nat-settings", "--natsettings"}, // MODIFYVM_NATSETTINGS
    {k_indexed, "--nat-pf", "--natpf"}, // MODIFYVM_NATPF
    {k_indexed, "--nat-alias-mode", "--nataliasmode"}, // MODIFYVM_NATALIASMODE
    {k_indexed, "--nat-tftp-prefix", "--nattftpprefix"}, // MODIFYVM_NATTFTPPREFIX
    {k_indexed, "--nat-tftp-file", "--nattftpfile"}, // MODIFYVM_NATTFTPFILE
    {k_indexed, "--nat-tftp-server", "--nattftpserver"}, // MODIFYVM_NATTFTPSERVER
    {k_indexed, "--nat-dns-pass-domain", "--natdnspassdomain"}, // MODIFYVM_NATDNSPASSDOMAIN
    {k_indexed, "--nat-dns-proxy", "--natdnsproxy"}, // MODIFYVM_NATDNSPROXY
    {k_indexed, "--nat-dns-host-resolver", "--natdnshostresolver"}, // MODIFYVM_NATDNSHOSTRESOLVER
    {k_indexed, "--nat-localhostreachable", "--natlocalhostreachable"}, // MODIFYVM_NATLOCALHOSTREACHABLE
    {k_indexed, "--mac-address", "--macaddress"}, // MODIFYVM_MACADDRESS
    {k_value, "--mouse", ""}, // MODIFYVM_HIDPTR
    {k_value, "--keyboard", ""}, // MODIFYVM_HIDKBD
    {k_indexed, "--uart-mode", "--uartmode"}, // MODIFYVM_UARTMODE
    {k_indexed, "--uart-type", "--uarttype"}, // MODIFYVM_UARTTYPE
    {k_indexed, "--uart", ""}, // MODIFYVM_UART
    {k_indexed, "--lpt-mode", "--lptmode"}, // MODIFYVM_LPTMODE
    {k_indexed, "--lpt", ""}, // MODIFYVM_LPT
    {k_value, "--guest-memory-balloon", "--guestmemoryballoon"}, // MODIFYVM_GUESTMEMORYBALLOON
    {k_value, "--audio-controller", "--audiocontroller"}, // MODIFYVM_AUDIOCONTROLLER
    {k_value, "--audio-codec", "--audiocodec"}, // MODIFYVM_AUDIOCODEC
    {k_value, "--audio", ""}, // MODIFYVM_AUDIO
    {k_value, "--audio-driver", "--audiodriver"}, // MODIFYVM_AUDIODRIVER
    {k_value, "--audio-enabled", "--audioenabled"}, // MODIFYVM_AUDIOENABLED
    {k_value, "--audio-in", "--audioin"}, // MODIFYVM_AUDIOIN
    {k_value, "--audio-out", "--audioout"}, // MODIFYVM_AUDIOOUT
    {k_value, "--clipboard-mode", ""}, // MODIFYVM_CLIPBOARD_MODE
    {k_value, "--clipboard", ""}, // MODIFYVM_CLIPBOARD_MODE
    {k_value, "--drag-and-drop", "--draganddrop"}, // MODIFYVM_DRAGANDDROP
    {k_value, "--vrdp-port", "--vrdpport"}, // MODIFYVM_VRDPPORT
    {k_value, "--vrdp-address", "--vrdpaddress"}, // MODIFYVM_VRDPADDRESS
    {k_value, "--vrdp-auth-type", "--vrdpauthtype"}, // MODIFYVM_VRDPAUTHTYPE
    {k_value, "--vrdp-multi-con", "--vrdpmulticon"}, // MODIFYVM_VRDPMULTICON
    {k_value, "--vrdp-reuse-con", "--vrdpreusecon"}, // MODIFYVM_VRDPREUSECON
    {k_value, "--vrdp-video-channel", "--vrdpvideochannel"}, // MODIFYVM_VRDPVIDEOCHANNEL
    {k_value, "--vrdp-video-channel-quality", "--vrdpvideochannelquality"}, // MODIFYVM_VRDPVIDEOCHANNELQUALITY
    {k_value, "--vrdp", ""}, // MODIFYVM_VRDP
    {k_value, "--vrde-property", "--vrdeproperty"}, // MODIFYVM_VRDEPROPERTY
    {k_value, "--vrde-port", "--vrdeport"}, // MODIFYVM_VRDEPORT
    {k_value, "--vrde-address", "--vrdeaddress"}, // MODIFYVM_VRDEADDRESS
    {k_value, "--vrde-auth-type", "--vrdeauthtype"}, // MODIFYVM_VRDEAUTHTYPE
    {k_value, "--vrde-auth-library", "--vrdeauthlibrary"}, // MODIFYVM_VRDEAUTHLIBRARY
    {k_value, "--vrde-multi-con", "--vrdemulticon"}, // MODIFYVM_VRDEMULTICON
    {k_value, "--vrde-reuse-con", "--vrdereusecon"}, // MODIFYVM_VRDEREUSECON
    {k_value, "--vrde-video-channel", "--vrdevideochannel"}, // MODIFYVM_VRDEVIDEOCHANNEL
    {k_value, "--vrde-video-channel-quality", "--vrdevideochannelquality"}, // MODIFYVM_VRDEVIDEOCHANNELQUALITY
    {k_value, "--vrde-extpack", "--vrdeextpack"}, // MODIFYVM_VRDE_EXTPACK
    {k_value, "--vrde", ""}, // MODIFYVM_VRDE
    {k_value, "--usb-rename", "--usbrename"}, // MODIFYVM_USBRENAME
    {k_value, "--usb-xhci", "--usbxhci"}, // MODIFYVM_USBXHCI
    {k_value, "--usb-ehci", "--usbehci"}, // MODIFYVM_USBEHCI
    {k_value, "--usb-ohci", "--usbohci"}, // MODIFYVM_USBOHCI
    {k_value, "--usb", ""}, // MODIFYVM_USBOHCI
    {k_value, "--snapshot-folder", "--snapshotfolder"}, // MODIFYVM_SNAPSHOTFOLDER
    {k_value, "--teleporter", ""}, // MODIFYVM_TELEPORTER_ENABLED
    {k_value, "--teleporter-enabled", "--teleporterenabled"}, // MODIFYVM_TELEPORTER_ENABLED
    {k_value, "--teleporter-port", "--teleporterport"}, // MODIFYVM_TELEPORTER_PORT
    {k_value, "--teleporter-address", "--teleporteraddress"}, // MODIFYVM_TELEPORTER_ADDRESS
    {k_value, "--teleporter-password", "--teleporterpassword"}, // MODIFYVM_TELEPORTER_PASSWORD
    {k_value, "--teleporter-password-file", "--teleporterpasswordfile"}, // MODIFYVM_TELEPORTER_PASSWORD_FILE
    {k_value, "--tracing-enabled", ""}, // MODIFYVM_TRACING_ENABLED
    {k_value, "--tracing-config", ""}, // MODIFYVM_TRACING_CONFIG
    {k_value, "--tracing-allow-vm-access", ""}, // MODIFYVM_TRACING_ALLOW_VM_ACCESS
    {k_value, "--hardware-uuid", "--hardwareuuid"}, // MODIFYVM_HARDWARE_UUID
    {k_value, "--hpet", ""}, // MODIFYVM_HPET
    {k_value, "--iocache", ""}, // MODIFYVM_IOCACHE
    {k_value, "--iocache-size", "--iocachesize"}, // MODIFYVM_IOCACHESIZE
    {k_value, "--chipset", ""}, // MODIFYVM_CHIPSET
    {k_value, "--iommu", ""}, // MODIFYVM_IOMMU
    {k_value, "--tpm-type", ""}, // MODIFYVM_TPM_TYPE
    {k_value, "--tpm-location", ""}, // MODIFYVM_TPM_LOCATION
    {k_value, "--recording", ""}, // MODIFYVM_RECORDING
    {k_value, "--recording-screens", "--recordingscreens"}, // MODIFYVM_RECORDING_SCREENS
    {k_value, "--recording-file", "--recordingfile"}, // MODIFYVM_RECORDING_FILENAME
    {k_value, "--recording-max-time", "--recordingmaxtime"}, // MODIFYVM_RECORDING_MAXTIME
    {k_value, "--recording-max-size", "--recordingmaxsize"}, // MODIFYVM_RECORDING_MAXSIZE
    {k_value, "--recording-opts", "--recordingopts"}, // MODIFYVM_RECORDING_OPTIONS
    {k_value, "--recording-options", "--recordingoptions"}, // MODIFYVM_RECORDING_OPTIONS
    {k_value, "--recording-video-res", "--recordingvideores"}, // MODIFYVM_RECORDING_VIDEO_RES
    {k_value, "--recording-video-resolution", "--recordingvideoresolution"}, // MODIFYVM_RECORDING_VIDEO_RES
    {k_value, "--recording-video-rate", "--recordingvideorate"}, // MODIFYVM_RECORDING_VIDEO_RATE
    {k_value, "--recording-video-fps", "--recordingvideofps"}, // MODIFYVM_RECORDING_VIDEO_FPS
    {k_value, "--autostart-enabled", ""}, // MODIFYVM_AUTOSTART_ENABLED
    {k_value, "--autostart-delay", ""}, // MODIFYVM_AUTOSTART_DELAY
    {k_value, "--autostop-type", ""}, // MODIFYVM_AUTOSTOP_TYPE
    {k_value, "--usb-card-reader", "--usbcardreader"}, // MODIFYVM_USBCARDREADER
    {k_value, "--default-frontend", "--defaultfrontend"}, // MODIFYVM_DEFAULTFRONTEND
    {k_value, "--vm-process-priority", ""}, // MODIFYVM_VMPROC_PRIORITY
    {k_value, "--testing-enabled", ""}, // MODIFYVM_TESTING_ENABLED
    {k_value, "--testing-mmio", ""}, // MODIFYVM_TESTING_MMIO
    {k_indexed, "--testing-cfg-dword", ""}, // MODIFYVM_TESTING_CFG_DWORD
    {k_value, "--guest-debug-provider", ""}, // MODIFYVM_GUEST_DEBUG_PROVIDER
    {k_value, "--guest-debug-io-provider", ""}, // MODIFYVM_GUEST_DEBUG_IO_PROVIDER
    {k_value, "--guest-debug-address", ""}, // MODIFYVM_GUEST_DEBUG_ADDRESS
    {k_value, "--guest-debug-port", ""}, // MODIFYVM_GUEST_DEBUG_PORT
};
// clang-format on

// RTGetOpt's rtGetOptSearchLong for one name: the name, then (indexed) any digits, then the
// end or, for an option with a value, ':' or '='.
bool names(std::string_view word, std::string_view name, VboxOption::Kind kind) {
  if (!word.starts_with(name)) {
    return false;
  }
  auto rest = word.substr(name.size());
  if (kind == VboxOption::Indexed) {
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front()))) {
      rest.remove_prefix(1);
    }
  }
  return rest.empty() || (kind != VboxOption::Flag && (rest.front() == ':' || rest.front() == '='));
}
} // namespace

std::span<const VboxOption> vbox_modifyvm_options() { return k_vbox_options; }

std::optional<std::string_view> match_vbox_modifyvm_option(std::string_view word) {
  for (const auto& opt : k_vbox_options) {
    for (auto name : {opt.name, opt.legacy_name}) {
      if (!name.empty() && names(word, name, opt.kind)) {
        return word.substr(0, word.find_first_of(":="));
      }
    }
  }
  return std::nullopt;
}

} // namespace vbm::cli
