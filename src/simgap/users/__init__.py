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
from simgap.users.behavior import BehaviorSimulator
from simgap.users.kinds import preset_profile, profile_instructions, use_profile, with_profile
from simgap.users.persona import persona_instructions, sample_persona
from simgap.users.profile import AnswerDist, BehaviorProfile, ErrorReactions, sample_answers
from simgap.users.registry import (
    UserContext,
    UserPreset,
    build_user,
    get_preset,
    load_preset_file,
    presets,
    register_preset,
    register_preset_resolver,
    register_user_kind,
)
from simgap.users.tau2_user import Tau2UserSimulator, tau2_user_system_prompt
from simgap.users.zoo import ZooRow, describe_preset, readiness, zoo_rows

__all__ = [
    "STOP_TOKENS",
    "AnswerDist",
    "BehaviorProfile",
    "BehaviorSimulator",
    "ErrorReactions",
    "Tau2UserSimulator",
    "UserContext",
    "UserPreset",
    "UserReply",
    "UserSimulator",
    "ZooRow",
    "build_user",
    "describe_preset",
    "detect_stop",
    "get_preset",
    "load_preset_file",
    "persona_instructions",
    "preset_profile",
    "presets",
    "profile_instructions",
    "readiness",
    "register_preset",
    "register_preset_resolver",
    "register_user_kind",
    "sample_answers",
    "sample_persona",
    "strip_control_tokens",
    "tau2_user_system_prompt",
    "use_profile",
    "user_view",
    "with_profile",
    "zoo_rows",
]
