"""Online evaluation of gyre runs: statistics and the evaluation report."""
