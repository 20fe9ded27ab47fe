"""A simulated Asterisk call centre: a pure seeded model and an AMI server + queue_log shell."""

from wallboard.simulator.model import (
    AgentConfig,
    CallCenterModel,
    Config,
    Event,
    Output,
    QueueConfig,
    default_config,
)
from wallboard.simulator.server import SimulatorServer

__all__ = [
    "AgentConfig",
    "CallCenterModel",
    "Config",
    "Event",
    "Output",
    "QueueConfig",
    "SimulatorServer",
    "default_config",
]
