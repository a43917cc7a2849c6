"""The mobilization package's public surface: every name of ``__all__`` resolves, lazily.

``mobilization/__init__.py`` loads each name's module on first use (so the console's first frame
does not import the cascade, delivery or the e-mail sender): its table of where each name lives
and ``__all__`` must agree, and a fresh interpreter must load only what was asked for.
"""

from __future__ import annotations

import json
import subprocess
import sys

import mobilization


def test_all_and_the_table_of_modules_agree_and_every_name_resolves() -> None:
    assert sorted(mobilization.__all__) == sorted(mobilization._WHERE)
    for name in mobilization.__all__:
        value = getattr(mobilization, name)
        assert getattr(sys.modules[mobilization._WHERE[name]], name) is value


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        mobilization.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("mobilization.no_such_name resolved")


def test_importing_a_state_loads_only_its_module() -> None:
    script = (
        "import json, sys\n"
        "from mobilization import RecipientState\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('mobilization'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out) == ["mobilization", "mobilization.vocabulary"]
