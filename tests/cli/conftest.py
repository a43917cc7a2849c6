"""Fixtures of the CLI tests: ``run(*args)`` calls ``console.cli.main`` on a test database.

Each test gets its own database and configuration file under tmp_path, named with --db and
--config, so nothing touches the user's directories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    db = tmp_path / "cli.db"
    config = tmp_path / "config.toml"
    config.write_text(
        'operator = "王伟"\ntimezone = "Asia/Shanghai"\n[shift]\nleads = ["陈队长", "赵主任"]\n',
        encoding="utf-8",
    )

    def invoke(*args: str) -> Result:
        code = 0
        try:
            main(["--db", str(db), "--config", str(config), *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    invoke.db = db  # type: ignore[attr-defined]
    invoke.config = config  # type: ignore[attr-defined]
    return invoke
