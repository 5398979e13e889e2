"""Risk Foreseeing Benchmark and the refinement study: how well each model foresees collisions
and off-road exits, and how a driving policy refined under each reward source drives.

* :mod:`benchmark.leaderboard`: ``impartial benchmark``, every leaderboard file of one run;
  :mod:`benchmark.evaluate` scores the models and builds the leaderboard and its slices.
* :mod:`benchmark.models`: the models behind one scoring interface (a trained critic, the oracle);
  :mod:`benchmark.constant_velocity`: the rule-based constant-velocity row.
* :mod:`benchmark.metrics`: the risk metrics (AUROC, AUPRC, recall at 5 % FPR, ECE, Brier, DAF, ...)
  in a registry.
* :mod:`benchmark.intervals`: bootstrap intervals that resample whole logs; :mod:`benchmark.leaderboard_ci`:
  an interval for every leaderboard metric and each model's paired difference from constant velocity.
* :mod:`benchmark.cv`: K-fold cross-validation of the critic by log (``impartial cv``).
* :mod:`benchmark.by_family`: AUROC per perturbation family (``impartial by-family``);
  :mod:`benchmark.by_scene_kind`: AUROC per scene kind with intervals (``impartial by-scene-kind``).
* :mod:`benchmark.ceiling`: a Monte Carlo upper bound on the collision AUROC of any critic that
  sees only the history (``impartial ceiling``).
* :mod:`benchmark.recompute`: an independent re-derivation of every leaderboard number from
  ``predictions.parquet`` alone (``impartial recompute``).
* :mod:`benchmark.report`: the leaderboard as markdown, CSV and a self-contained HTML report.
* :mod:`benchmark.refine`: ``impartial refine``, the refinement study; :mod:`benchmark.refine_ranking`:
  how well each reward source ranks target speeds.
* :mod:`benchmark.closed_loop`, :mod:`benchmark.closed_loop_report`: closed-loop driving
  metrics (safety rates, progress, the NAVSIM v1 PDM score) and their table and plot.
"""
