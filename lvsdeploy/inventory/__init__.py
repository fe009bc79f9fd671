"""Read an Ansible YAML inventory into a validated `lvsdeploy.model.Cluster`."""

from .load import load_cluster

__all__ = ["load_cluster"]
