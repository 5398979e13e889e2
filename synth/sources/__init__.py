"""Source adapters: one per format, each yielding canonical Scenarios."""
from .base import Source, check_options, discover, read_any, registry
from .scenarionet import ScenarioNetSource

__all__ = ["Av2SensorSource", "Av2Source", "CommonRoadSource", "NuPlanSource", "ProceduralConfig", "ProceduralSource",
           "ScenarioNetSource", "Source", "check_options", "discover", "read_any", "registry"]
from .av2 import Av2Source  # noqa: E402
from .av2_sensor import Av2SensorSource  # noqa: E402
from .commonroad import CommonRoadSource  # noqa: E402
from .nuplan import NuPlanSource  # noqa: E402
from .procedural import ProceduralConfig, ProceduralSource  # noqa: E402
