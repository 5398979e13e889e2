"""Perturbation families, one module each, registered by name."""
from .base import Candidates, Family, families
from . import agent_perturbation, braking, collision_seek, lateral, logged, near_logged, offroad_seek, speed_profile  # noqa: F401

__all__ = ["Candidates", "Family", "families"]
