"""Impartial critic: an action-conditioned latent world model trained on counterfactuals.

``from critic import ImpartialCritic`` then ``ImpartialCritic.load(path)``, ``.score(scenes, plans)``
and ``.dream(scenes, plans, n)``; see :mod:`critic.api`.
"""
__all__ = ["ImpartialCritic", "SceneBatch", "plans_from_states"]


def __getattr__(name: str):
    """The public API, imported on first use: ``critic.metrics`` (numpy only) must not pull in torch."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'critic' has no attribute {name!r}")
