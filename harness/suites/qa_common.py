"""Pieces the question-answering suite kinds share: strict prompt templates, parameter checks and
the mean-with-bootstrap-CI of a per-item score."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError, did_you_mean
from harness.metrics import MetricValue
from harness.stats import bootstrap_ci


@dataclass(frozen=True)
class PromptTemplate:
    """A jinja2 template from a suite YAML. A field the template names but the item lacks is an
    error (StrictUndefined), never an empty string in the prompt."""

    text: str
    origin: Path  # the suite YAML, for error messages

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    def _compiled(self) -> Any:
        import jinja2

        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
        try:
            return env.from_string(self.text)
        except jinja2.TemplateSyntaxError as e:
            raise HarnessError(
                f"{self.origin}: params.prompt_template line {e.lineno}: {e.message}; fix the jinja2 syntax"
            ) from None

    def check(self) -> None:
        """Fail on a syntax error now, before any data is read."""
        self._compiled()

    def render_all(self, fields: Sequence[Mapping[str, Any]], ids: Sequence[str], data: str) -> list[str]:
        """One prompt per item; the first item the template cannot fill stops the run."""
        import jinja2

        template = self._compiled()
        prompts = []
        for values, item_id in zip(fields, ids):
            try:
                prompts.append(template.render(**values))
            except jinja2.UndefinedError as e:
                raise HarnessError(
                    f"{self.origin}: params.prompt_template: {e.message} for item {item_id!r} of {data}; "
                    f"the template may use {', '.join(sorted(values))}"
                ) from None
            except (jinja2.TemplateError, TypeError, ValueError) as e:
                raise HarnessError(
                    f"{self.origin}: params.prompt_template fails on item {item_id!r} of {data}: {e}"
                ) from None
        return prompts


def check_params(origin: Path, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The suite's params over the defaults; an unknown key is an error with close matches."""
    for key in params:
        if key not in defaults:
            raise HarnessError(
                f"{origin}: unknown parameter params.{key}{did_you_mean(key, defaults)}; "
                f"known: {', '.join(sorted(defaults))}"
            )
    return {**defaults, **params}


def string_list(origin: Path, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(s, str) for s in value):
        raise HarnessError(f"{origin}: params.{key} must be a list of strings, got {value!r}")
    return tuple(value)


def positive_int(origin: Path, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HarnessError(f"{origin}: params.{key} must be a positive whole number, got {value!r}")
    return value


def mean_with_ci(values: Sequence[float], seed: int, empty_reason: str) -> MetricValue:
    """The mean of per-item scores with a percentile-bootstrap 95% CI over items."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return MetricValue.undefined(empty_reason, 0)
    ci = bootstrap_ci(lambda idx: float(x[idx].mean()), len(x), seed=seed)
    return MetricValue.of(float(x.mean()), ci, len(x), "the mean is not a finite number")


def mean_or_none(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None
