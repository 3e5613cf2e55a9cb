"""Stage: study. The web app where real people play the customer and rate the conversation.

`create_app(config, store)` builds the FastAPI app; `simgap study serve` runs it. See
docs/study.md.
"""

from simgap.study.app import create_app
from simgap.study.config import StudyConfig, demo_config, load_study_config
from simgap.study.service import Stage, Study

__all__ = ["Stage", "Study", "StudyConfig", "create_app", "demo_config", "load_study_config"]
