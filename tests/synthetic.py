"""Hand-built result tables with a known shape, for plot and report tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gradsweep.config import TABLE_FIELDS
from gradsweep.frames import config_frame


def trial_tables(
    gaps=(5, 10, 20, 40),
    archs=("rnn", "lstm", "gru"),
    clips=(None, 1.0),
    seeds=(0, 1, 2),
    frontier=None,
    epochs=3,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """trials, epochs, profiles where arch `a` solves every gap up to `frontier[a]`."""
    frontier = frontier or {"rnn": 10, "lstm": 40, "gru": 20}
    rng = np.random.default_rng(0)
    configs, finals, epoch_rows, profile_rows = [], [], [], []
    i = 0
    for arch in archs:
        for gap in gaps:
            for clip in clips:
                for seed in seeds:
                    trial_id = f"t_{i:05d}"
                    i += 1
                    seq_len = gap + 10
                    solved = gap <= frontier[arch]
                    configs.append(
                        {
                            "task": "recall",
                            "arch": arch,
                            "gap": gap,
                            "seq_len": seq_len,
                            "hidden": 32,
                            "clip_norm": clip,
                            "seed": seed,
                            "max_epochs": epochs,
                        }
                    )
                    ratio = 10 ** (-gap / (10 if arch == "rnn" else 40))
                    finals.append(
                        {
                            "trial_id": trial_id,
                            "status": "TERMINATED",
                            "epochs_run": epochs,
                            "samples_seen": epochs * 1000,
                            "train_loss": 0.1,
                            "val_acc": 1.0,
                            "best_val_acc": 1.0 if solved else 0.55,
                            "test_acc": (0.99 if solved else 0.5) + rng.normal(0, 0.005),
                            "test_loss": 0.1,
                            "val_mse": None,  # a classification task
                            "test_mse": None,
                            "grad_norm_mean": 1.0,
                            "grad_norm_max": 2.0 + gap,
                            "grad_norm_first": 0.5 + rng.random(),
                            "clip_fraction": 0.0 if clip is None else 0.3,
                            "signal_grad_ratio": ratio * 10,
                            "spectral_radius": 1.0,
                            "signal_grad_ratio_init": ratio,
                            "spectral_radius_init": 1.0,
                            "solved": solved,
                            "samples_to_solve": 2000 if solved else None,
                            "diverged": False,
                            "wall_s": 1.0,
                            "node": "n1",
                        }
                    )
                    for e in range(1, epochs + 1):
                        epoch_rows.append(
                            {
                                "trial_id": trial_id,
                                "epoch": e,
                                "samples_seen": e * 1000,
                                "val_acc": 0.5 + (0.49 if solved else 0.05) * e / epochs,
                                "val_loss": 0.7 - (0.6 if solved else 0.02) * e / epochs,
                                "grad_norm_mean": 1.0 / e,
                            }
                        )
                    for e in (0, epochs):
                        for position in range(seq_len):
                            step_back = seq_len - 1 - position
                            profile_rows.append(
                                {
                                    "trial_id": trial_id,
                                    "epoch": e,
                                    "position": position,
                                    "step_back": step_back,
                                    "grad": 10 ** (-step_back / 10),
                                }
                            )
    config = config_frame([{k: c[k] for k in TABLE_FIELDS if k in c} for c in configs])
    head = pd.DataFrame(finals)
    trials = pd.concat(
        [head[["trial_id", "status"]], config, head.drop(columns=["trial_id", "status"])], axis=1
    )
    trials["solved"] = trials["solved"].astype("boolean")
    trials["samples_to_solve"] = trials["samples_to_solve"].astype("Int64")
    return trials, pd.DataFrame(epoch_rows), pd.DataFrame(profile_rows)
