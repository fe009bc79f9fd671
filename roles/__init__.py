"""lvsdeploy's roles, in Ansible's layout (<role>/tasks|defaults|handlers/main.yml, <role>/templates/*.j2).

This file only makes the folder a package, so that it ships inside lvsdeploy as lvsdeploy.shipped_roles
(see pyproject.toml) and loads the same way from a checkout and from an installed wheel.
"""
