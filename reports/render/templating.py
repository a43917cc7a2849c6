"""Loads the report templates: the office's directory first, then the package's own.

A template that does not parse or render is refused with its file and the Jinja2 error's line
(:class:`~store.errors.InvalidInput`, field ``templates``), never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.errors import InvalidInput
from store.i18n import _

if TYPE_CHECKING:
    from jinja2 import Environment

PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def template_file(name: str, templates: Path | None) -> Path:
    """The file ``name`` from the office's directory when it has one, else the package's."""
    if templates is not None and (templates / name).is_file():
        return templates / name
    return PACKAGE_TEMPLATES / name


def _environment(
    templates: Path | None, *, autoescape: bool, filters: Mapping[str, Callable[..., Any]]
) -> Environment:
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

    loaders = [FileSystemLoader(str(PACKAGE_TEMPLATES))]
    if templates is not None:
        loaders.insert(0, FileSystemLoader(str(templates)))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=autoescape,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters)
    return env


def render_template(
    kind: str,
    suffix: str,
    context: Mapping[str, Any],
    *,
    templates: Path | None,
    autoescape: bool,
    filters: Mapping[str, Callable[..., Any]],
) -> str:
    """Render ``<kind>.<suffix>.j2`` if it exists (office's or package's), else
    ``report.<suffix>.j2``.

    Raises:
        InvalidInput: the template does not parse or fails while rendering (field
            ``templates``): the message names the file and the line.
    """
    from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError

    name = f"{kind}.{suffix}.j2"
    if not template_file(name, templates).is_file():
        name = f"report.{suffix}.j2"
    env = _environment(templates, autoescape=autoescape, filters=filters)
    try:
        return env.get_template(name).render(**context)
    except TemplateSyntaxError as exc:
        where = exc.filename or str(template_file(exc.name or name, templates))
        raise InvalidInput(
            _("bad template {file}, line {line}: {error}").format(
                file=where, line=exc.lineno, error=exc.message
            ),
            "templates",
        ) from exc
    except TemplateNotFound as exc:
        raise InvalidInput(
            _("template not found: {name}").format(name=exc.name), "templates"
        ) from exc
    except TemplateError as exc:
        file, line = _error_line(exc)
        raise InvalidInput(
            _("bad template {file}, line {line}: {error}").format(
                file=file or str(template_file(name, templates)), line=line, error=exc
            ),
            "templates",
        ) from exc


def _error_line(exc: BaseException) -> tuple[str, int | str]:
    """The template file and line a rendering error happened at (from the traceback)."""
    tb = exc.__traceback__
    found: tuple[str, int | str] = ("", "?")
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") or "<template>" in filename:
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
