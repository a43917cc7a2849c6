"""Reusable console widgets and the renderings of incident values they share."""

from console.tui.widgets.stage_bar import StageBar

__all__ = ["StageBar"]
