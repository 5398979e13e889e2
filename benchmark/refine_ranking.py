"""How well a reward source ranks the target speeds of the refinement study's decision states.

Every input is a table ``[S, A]``: one row per decision state, one column per target speed of
``SimConfig.target_speeds`` (increasing), holding a reward (or its safety part) of holding that
speed from that state. ``true`` / ``true_safety`` come from the pseudo-simulation, ``pred`` /
``pred_safety`` from a critic (:func:`critic.rl.refine.critic_table`).
"""
from __future__ import annotations

import numpy as np

from .metrics import auroc


def rank_agreement(pred: np.ndarray, true: np.ndarray, min_gap: float = 0.5) -> dict[str, float]:
    """Per state, Kendall tau-a between two rankings of the target speeds, averaged; and the
    pairwise agreement over pairs whose true rewards differ by more than ``min_gap``."""
    i, j = np.triu_indices(pred.shape[1], 1)
    dp, dt = np.sign(pred[:, i] - pred[:, j]), np.sign(true[:, i] - true[:, j])
    tau = (dp * dt).mean(1)
    big = np.abs(true[:, i] - true[:, j]) > min_gap
    agree = ((dp == dt) & big).sum() / max(big.sum(), 1)
    best = np.take_along_axis(true, pred.argmax(1)[:, None], 1)[:, 0]
    return {"kendall_tau": float(tau.mean()), "pairwise_agreement": float(agree),
            "regret_of_argmax": float((true.max(1) - best).mean())}


def _outcome_masks(true_safety: np.ndarray, fail_below: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``fail`` ``[S, A]`` (true safety reward < ``fail_below``), and per state ``mixed`` (some speeds
    fail, others not) and ``safe`` (none fails), ``[S]``."""
    fail = true_safety < fail_below
    return fail, fail.any(1) & ~fail.all(1), ~fail.any(1)


def within_state_auroc(pred_safety: np.ndarray, true_safety: np.ndarray, fail_below: float = -1.0) -> dict[str, float]:
    """Over states where some target speeds truly fail (true safety reward < ``fail_below``) and
    others do not: the AUROC of the predicted penalty ``-pred_safety`` for telling them apart,
    averaged over such states (NaN if there are none), and their number. ``[S, A]`` inputs."""
    fail, mixed, _ = _outcome_masks(true_safety, fail_below)
    f, r = fail[mixed], -pred_safety[mixed]
    gt = (r[:, :, None] > r[:, None, :]) + 0.5 * (r[:, :, None] == r[:, None, :])   # [M, A, A]
    pairs = f[:, :, None] & ~f[:, None, :]
    auc = (gt * pairs).sum((1, 2)) / np.maximum(pairs.sum((1, 2)), 1)
    return {"within_state_auroc": float(auc.mean()) if len(auc) else float("nan"), "mixed_states": int(mixed.sum())}


def penalty_gaps(pred_safety: np.ndarray, true_safety: np.ndarray, fail_below: float = -1.0) -> dict[str, float]:
    """How strongly a reward's safety part ``[S, A]`` (speeds in increasing order) separates outcomes.

    ``mixed_state_gap``: over states where some speeds truly fail and others do not, the mean of
    (mean safety reward of the safe speeds - that of the failing speeds); ``safe_state_speed_slope``:
    over states where no speed fails, the mean safety reward of the slowest speed minus the fastest
    (a critic's false alarms that grow with speed). NaN where there are no such states.
    """
    fail, mixed, safe = _outcome_masks(true_safety, fail_below)
    f, p = fail[mixed], pred_safety[mixed]
    gap = (p * ~f).sum(1) / (~f).sum(1) - (p * f).sum(1) / f.sum(1)
    slope = pred_safety[safe, 0] - pred_safety[safe, -1]
    return {"mixed_state_gap": float(gap.mean()) if len(gap) else float("nan"),
            "safe_state_speed_slope": float(slope.mean()) if len(slope) else float("nan")}


def state_auroc(pred_safety: np.ndarray, true_safety: np.ndarray, fail_below: float = -1.0) -> dict[str, float]:
    """Across decision states: the AUROC of the mean predicted penalty ``-pred_safety.mean(1)`` for
    telling states where some speed truly fails from states where none does (does the critic know
    *when* danger is near, rather than which speed is worse); and the same over all (state, speed)
    pairs pooled. ``[S, A]`` inputs; NaN when one class is missing."""
    fail = true_safety < fail_below
    state, ok = auroc(-pred_safety.mean(1), fail.any(1))
    pooled, ok2 = auroc(-pred_safety.ravel(), fail.ravel())
    return {"state_auroc": float(state) if ok else float("nan"), "pooled_auroc": float(pooled) if ok2 else float("nan")}


def speed_ranking(pred: np.ndarray, true: np.ndarray, pred_safety: np.ndarray, true_safety: np.ndarray) -> dict[str, float]:
    """Everything ``refine.json``'s ``ranking`` reports for one reward source, in its key order:
    :func:`rank_agreement` of the whole rewards, then of their safety parts (``safety_`` keys),
    :func:`within_state_auroc`, :func:`penalty_gaps` and :func:`state_auroc` of the safety parts."""
    out = rank_agreement(pred, true)
    out.update({f"safety_{k}": v for k, v in rank_agreement(pred_safety, true_safety).items()})
    out.update(within_state_auroc(pred_safety, true_safety))
    out.update(penalty_gaps(pred_safety, true_safety))
    out.update(state_auroc(pred_safety, true_safety))
    return out
