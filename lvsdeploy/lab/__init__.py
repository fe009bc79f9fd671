"""The QEMU lab: real Debian VMs with an IPVS kernel, wired as a NAT, DR or TUN topology.

Independent of the engine: it only writes an inventory that the engine can read.
"""
