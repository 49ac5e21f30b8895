"""gradsweep: sweeps of monitored recurrent-network training runs, and what their gradients say."""

from gradsweep.train import TrialConfig, TrialResult, TrialState, run_trial

__version__ = "0.1.0"
__all__ = ["TrialConfig", "TrialResult", "TrialState", "__version__", "run_trial"]
