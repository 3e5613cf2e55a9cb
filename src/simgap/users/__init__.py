"""User simulators: a registry of named presets and the builders behind them."""

from simgap.users import kinds as _kinds  # noqa: F401  (registers behavior, persona, grounded)
from simgap.users.base import (
    STOP_TOKENS,
    UserReply,
    UserSimulator,
    detect_stop,
    strip_control_tokens,
    user_view,
)
from simgap.users.profile import BehaviorProfile
from simgap.users.registry import (
    UserContext,
    UserPreset,
    build_user,
    get_preset,
    load_preset_file,
    presets,
    register_preset,
    register_user_kind,
)
from simgap.users.tau2_user import Tau2UserSimulator, tau2_user_system_prompt

__all__ = [
    "STOP_TOKENS",
    "BehaviorProfile",
    "Tau2UserSimulator",
    "UserContext",
    "UserPreset",
    "UserReply",
    "UserSimulator",
    "build_user",
    "detect_stop",
    "get_preset",
    "load_preset_file",
    "presets",
    "register_preset",
    "register_user_kind",
    "strip_control_tokens",
    "tau2_user_system_prompt",
    "user_view",
]
