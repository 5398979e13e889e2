"""Impartial critic: an action-conditioned latent world model trained on counterfactuals.

``from critic import ImpartialCritic`` then ``ImpartialCritic.load(path)``, ``.score(scenes, plans)``
and ``.dream(scenes, plans, n)``; see :mod:`critic.api`.
"""
from .api import ImpartialCritic, SceneBatch, plans_from_states

__all__ = ["ImpartialCritic", "SceneBatch", "plans_from_states"]
