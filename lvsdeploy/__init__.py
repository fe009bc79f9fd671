"""lvsdeploy: turn one YAML inventory into a working Linux Virtual Server (LVS/IPVS) cluster over SSH."""

__version__ = "0.1.0"
