"""Provides what every benchmark prints with: one line per figure, OK/FAIL per check, a verdict,
and the percentile the figures use."""

from __future__ import annotations

import statistics


def pct(samples: list[float], q: int) -> float:
    """The q-th percentile (inclusive method), or the only sample."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


class Report:
    """The lines a benchmark prints; the names of the checks that failed decide the verdict."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def line(self, text: str) -> None:
        print(text, flush=True)

    def check(self, name: str, text: str, ok: bool) -> None:
        self.line(f"{name} {text} {'OK' if ok else 'FAIL'}")
        if not ok:
            self.failures.append(name)

    def verdict(self) -> None:
        outcome = "PASS" if not self.failures else f"FAIL ({', '.join(self.failures)})"
        self.line(f"VERDICT: {outcome}")
