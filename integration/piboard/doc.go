// Package piboard simulates Raspberry Pi boards netbooting, for end-to-end
// tests and load generation: the Pi 3B+ boot ROM, the Pi 4 and Pi 5 EEPROM
// bootloaders, and a generic U-Boot-style client, each with the wire quirks
// docs/architecture.md lists ("The clients").
//
// DHCP goes over one AF_PACKET socket per interface (promiscuous, replies
// matched by chaddr and xid), so one interface carries many boards, each
// with its own MAC. Once a board has an address it adds it to the interface
// and runs TFTP over an ordinary UDP socket bound to that address.
//
// Everything can run in a named network namespace from a process that lives
// elsewhere (the test process): sockets are created inside the namespace and
// keep working from any thread afterwards.
package piboard
