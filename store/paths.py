"""Provides where dutydesk keeps its files by default (platformdirs), and the overrides.

Order of precedence: an explicit ``--db``/``--config`` option, then the ``DUTYDESK_DB`` /
``DUTYDESK_CONFIG`` environment variables, then the user data/config directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_path, user_data_path

APP = "dutydesk"


def default_db_path() -> Path:
    env = os.environ.get("DUTYDESK_DB")
    if env:
        return Path(env).expanduser()
    return user_data_path(APP, appauthor=False) / "dutydesk.db"


def demo_db_path() -> Path:
    return user_data_path(APP, appauthor=False) / "demo.db"


def default_config_path() -> Path:
    env = os.environ.get("DUTYDESK_CONFIG")
    if env:
        return Path(env).expanduser()
    return user_config_path(APP, appauthor=False) / "config.toml"
