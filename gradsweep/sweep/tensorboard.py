"""Tune's TensorBoard logger with every config field in every trial's HParams summary.

Tune's `TBXLoggerCallback` drops hyperparameters whose value is None (TensorBoardX cannot
write them; Ray 2.60, `ray/tune/logger/tensorboardx.py`), so an unclipped trial had no
`trial/clip_norm`, and the HParams dashboard, whose columns come from the first run it
reads, could show no clip_norm column at all. Here a field that is None in some trial of
the sweep is written as text for every trial, as gradsweep prints it everywhere ('off'
for no clipping, 'none' otherwise, `config.format_value`): one type per column, so that
the dashboard's columns do not depend on which run it reads first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ray.tune.logger import TBXLoggerCallback
from ray.tune.utils import flatten_dict

from gradsweep.config import format_value

log = logging.getLogger(__name__)


def text_fields(configs: Iterable[dict[str, Any]]) -> frozenset[str]:
    """The fields that are None in at least one of `configs`."""
    return frozenset(name for config in configs for name, value in config.items() if value is None)


def hparam_values(params: dict[str, Any], as_text: frozenset[str]) -> dict[str, Any]:
    """Tune's trial params, flattened (`trial/clip_norm`), as HParams values: the fields in
    `as_text` (and anything TensorBoard cannot type) as gradsweep prints them."""
    values = {}
    for name, value in flatten_dict(params, delimiter="/").items():
        field = name.rsplit("/", 1)[-1]
        plain = isinstance(value, str | bool | int | float)
        values[name] = value if plain and field not in as_text else format_value(field, value)
    return values


class HParamsLogger(TBXLoggerCallback):
    """`TBXLoggerCallback` whose HParams hold every field of every trial's config."""

    def __init__(self, as_text: Iterable[str] = ()):
        super().__init__()
        self.as_text = frozenset(as_text)

    def _try_log_hparams(self, trial, result: dict) -> None:
        from tensorboardX.summary import hparams

        values = hparam_values(trial.evaluated_params, self.as_text)
        try:
            for summary in hparams(hparam_dict=values, metric_dict=result):
                self._trial_writer[trial].file_writer.add_summary(summary)
        except (TypeError, ValueError):  # as Tune's own: a bad value costs the summary only
            log.exception("HParams of trial %s not written", trial)
