"""GitHub monthly new contributors: a parallel, rate-limit-aware, incremental crawler (issue 3)."""
