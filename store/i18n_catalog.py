"""Provides the maintainers' side of the translations: extract, check, update and compile.

``python -m store.i18n_catalog check``   every string marked in the code has a Chinese entry
``python -m store.i18n_catalog update``  add the new strings to the ``.po`` (empty), drop gone ones
``python -m store.i18n_catalog compile`` write the ``.mo`` the program reads

Strings are found by reading the source (:mod:`ast`): the first argument of ``_()``, ``N_()``,
the two of ``ngettext()``, and the docstring of every click command or group (click shows it
as the command's help; :mod:`console.cli.i18n` translates it there). ``_()`` of anything but
a literal (an f-string, a ``+``) is an error: the catalog could never hold it. Variables are
allowed (``_(look.label)``): they carry a string marked with ``N_`` elsewhere.

Babel (a test dependency) reads and writes the ``.po`` and ``.mo`` files; the program itself
only needs the standard library's :mod:`gettext`.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.i18n import CHINESE, DOMAIN, LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "console",
    "contacts",
    "drills",
    "incidents",
    "jurisdiction",
    "mobilization",
    "reports",
    "store",
    "uplink",
)
PO_PATH = LOCALE_DIR / CHINESE / "LC_MESSAGES" / f"{DOMAIN}.po"
MO_PATH = PO_PATH.with_suffix(".mo")
MARKERS = {"_": 1, "N_": 1, "ngettext": 2}
FIELD = re.compile(r"(?<!\{)\{([a-zA-Z_][a-zA-Z0-9_]*)?(?:![rsa])?(?::[^{}]*)?\}(?!\})")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


@dataclass
class Found:
    """One message id and where it occurs."""

    msgid: str
    plural: str | None = None
    places: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Problem:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def source_files(root: Path = ROOT) -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py"))


def _is_click_decorator(node: ast.expr) -> bool:
    """``@x.command(...)``, ``@x.group(...)``, ``@click.command`` and friends."""
    target = node.func if isinstance(node, ast.Call) else node
    return isinstance(target, ast.Attribute) and target.attr in ("command", "group")


def _has_help(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and any(k.arg == "help" for k in node.keywords)


def scan(path: Path, root: Path = ROOT) -> tuple[list[Found], list[Problem]]:
    """The message ids of one source file, and the misuses of the markers in it."""
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    found: list[Found] = []
    problems: list[Problem] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            arity = MARKERS.get(node.func.id)
            if arity is None or not node.args:
                continue
            args = node.args[:arity]
            if all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
                values = [a.value for a in args]  # type: ignore[attr-defined]
                plural = values[1] if arity == 2 and len(values) > 1 else None
                found.append(Found(values[0], plural, [(rel, node.lineno)]))
            elif any(isinstance(a, ast.JoinedStr | ast.BinOp) for a in args):
                problems.append(
                    Problem(
                        rel,
                        node.lineno,
                        f"{node.func.id}() of an f-string or a '+': use a literal with named "
                        "{fields} and .format()",
                    )
                )
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            commands = [d for d in node.decorator_list if _is_click_decorator(d)]
            if commands and not any(_has_help(d) for d in commands):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    text = inspect.cleandoc(doc).split("\f", 1)[0].rstrip()
                    found.append(Found(text, None, [(rel, node.lineno)]))
    return found, problems


def extract(root: Path = ROOT) -> tuple[dict[str, Found], list[Problem]]:
    """Every message id of the code (first place first), and every misuse of the markers."""
    out: dict[str, Found] = {}
    problems: list[Problem] = []
    for path in source_files(root):
        found, bad = scan(path, root)
        problems += bad
        for item in found:
            if item.msgid in out:
                out[item.msgid].places += item.places
                out[item.msgid].plural = out[item.msgid].plural or item.plural
            else:
                out[item.msgid] = item
    return out, problems


def fields(text: str) -> set[str]:
    """The named ``{fields}`` of a format string (``{{`` escapes do not count)."""
    return {m.group(1) or "" for m in FIELD.finditer(text)}


def read_catalog(path: Path = PO_PATH):  # type: ignore[no-untyped-def]
    from babel.messages.pofile import read_po

    with path.open("rb") as fh:
        return read_po(fh, locale=CHINESE, domain=DOMAIN)


def check(root: Path = ROOT, po_path: Path = PO_PATH) -> list[str]:
    """Everything wrong with the translations, one line each (empty: all good)."""
    found, problems = extract(root)
    out = [str(p) for p in problems]
    catalog = read_catalog(po_path)
    for msgid, item in found.items():
        message = catalog.get(msgid)
        where = f"{item.places[0][0]}:{item.places[0][1]}"
        if message is None:
            out.append(f"{where}: no translation for {msgid!r}")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            out.append(f"{where}: empty or fuzzy translation for {msgid!r}")
            continue
        wanted = fields(msgid) | (fields(item.plural) if item.plural else set())
        for text in strings:
            if fields(text) != wanted and not (item.plural and fields(text) <= wanted):
                out.append(
                    f"{where}: the translation of {msgid!r} has fields {sorted(fields(text))},"
                    f" the original {sorted(wanted)}"
                )
    return out


def update(root: Path = ROOT, po_path: Path = PO_PATH) -> tuple[int, int]:
    """Add the code's new strings to the ``.po`` (untranslated) and drop the ones gone."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    found, _problems = extract(root)
    old = read_catalog(po_path) if po_path.exists() else Catalog(locale=CHINESE, domain=DOMAIN)
    new = Catalog(
        locale=CHINESE,
        domain=DOMAIN,
        project="dutydesk",
        version="",
        charset="utf-8",
        header_comment="# Simplified Chinese (zh_CN) for dutydesk: python -m store.i18n_catalog",
        creation_date=old.creation_date,
        revision_date=old.revision_date,
        fuzzy=False,
    )
    added = 0
    for msgid, item in sorted(found.items(), key=lambda kv: kv[1].places[0]):
        before = old.get(msgid)
        key = (msgid, item.plural) if item.plural else msgid
        if before is None:
            added += 1
            string: Any = ("", "") if item.plural else ""
        else:
            string = before.string
        new.add(key, string, locations=item.places[:3])
    dropped = sum(
        1 for m in old if m.id and (m.id[0] if isinstance(m.id, tuple) else m.id) not in found
    )
    po_path.parent.mkdir(parents=True, exist_ok=True)
    with po_path.open("wb") as fh:
        write_po(fh, new, width=100, sort_output=False, omit_header=False, no_location=False)
    return added, dropped


def merge(parts: Iterable[Path], po_path: Path = PO_PATH) -> int:
    """Fill empty entries of the ``.po`` from other ``.po`` files (translations done apart)."""
    from babel.messages.pofile import read_po, write_po

    catalog = read_catalog(po_path)
    filled = 0
    for part in parts:
        with part.open("rb") as fh:
            other = read_po(fh, locale=CHINESE)
        for message in other:
            if not message.id or not message.string:
                continue
            mine = catalog.get(message.id if isinstance(message.id, str) else message.id[0])
            if mine is not None and not (
                all(mine.string) if isinstance(mine.string, tuple) else mine.string
            ):
                mine.string = message.string
                filled += 1
    with po_path.open("wb") as fh:
        write_po(fh, catalog, width=100, sort_output=False)
    return filled


def compile_mo(po_path: Path = PO_PATH, mo_path: Path = MO_PATH) -> None:
    from babel.messages.mofile import write_mo

    catalog = read_catalog(po_path)
    with mo_path.open("wb") as fh:
        write_mo(fh, catalog)


def cjk_literals(root: Path = ROOT, allowed: Iterable[str] = ()) -> list[str]:
    """String literals with Chinese in them outside the catalog: text that never translates.

    ``allowed`` names ``path`` or ``path:function`` places where Chinese is data, not interface
    (the SMS text sent to people, reply keywords, the demo's township).
    """
    allow = set(allowed)
    out: list[str] = []
    for path in source_files(root):
        rel = path.relative_to(root).as_posix()
        if rel in allow:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                ):
                    docstrings.add(id(body[0].value))
        for node, owner in _with_owner(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and CJK.search(node.value)
                and f"{rel}:{owner}" not in allow
            ):
                out.append(f"{rel}:{node.lineno}: Chinese outside the catalog: {node.value[:40]!r}")
    return out


def _with_owner(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every node with the name of the outermost function or class it is in ('' at top)."""
    for top in ast.iter_child_nodes(tree):
        name = (
            top.name
            if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            else ""
        )
        for node in ast.walk(top):
            yield node, name


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "check"
    if command == "update":
        added, dropped = update()
        print(f"{PO_PATH.relative_to(ROOT)}: {added} new (untranslated), {dropped} dropped")
    elif command == "merge":
        print(f"filled {merge(Path(p) for p in args[1:])} entries")
    elif command == "compile":
        compile_mo()
        print(f"wrote {MO_PATH.relative_to(ROOT)}")
    elif command == "check":
        problems = check()
        for line in problems:
            print(line)
        print(f"{len(problems)} problem(s)")
        return 1 if problems else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
