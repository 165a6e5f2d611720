# Vagrant's own VirtualBox driver classes, loaded from the installed vagrant, reading a machine
# through VBoxManage (e2e.clients): prints what each read returns, one `name=value` a line.
require "vagrant"
require Vagrant.source_root.join("plugins/providers/virtualbox/driver/meta").to_s

driver = VagrantPlugins::ProviderVirtualBox::Driver::Meta.new(ARGV.fetch(0))
puts "version=#{driver.version}"
puts "state=#{driver.read_state}"
puts "mac=#{driver.read_mac_address}"
puts "nic1=#{driver.read_network_interfaces[1].inspect}"
puts "ip=#{driver.read_guest_ip(0)}"
