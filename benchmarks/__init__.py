"""gradsweep's benchmarks: ratios against baselines measured side by side in the same run."""
