"""Where the lab keeps its files: one cache for images, one folder per named lab."""

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("LVSDEPLOY_CACHE", Path.home() / ".cache" / "lvsdeploy")).expanduser()


def images_dir() -> Path:
    return cache_dir() / "images"


def lab_dir(name: str) -> Path:
    return cache_dir() / "labs" / name
