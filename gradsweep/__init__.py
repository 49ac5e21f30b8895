"""gradsweep: sweeps of monitored recurrent-network training runs, and what their gradients say.

Public names: `TrialConfig`, `run_trial` (one trial, no Ray), `SweepSpec` (a sweep's grid),
`load_results`, `aggregate` and `frontier` (an experiment directory into tidy DataFrames),
`compare` (does a setting change the frontier?).
Importing the package imports neither TensorFlow nor Ray.
"""

from gradsweep.analysis import aggregate, frontier
from gradsweep.compare import compare
from gradsweep.config import TrialConfig
from gradsweep.records import TrialResult, TrialState
from gradsweep.results import ResultSet, load_results
from gradsweep.spec import SweepSpec
from gradsweep.train import run_trial

__version__ = "0.1.0"
__all__ = [
    "ResultSet",
    "SweepSpec",
    "TrialConfig",
    "TrialResult",
    "TrialState",
    "__version__",
    "aggregate",
    "compare",
    "frontier",
    "load_results",
    "run_trial",
]
