"""simgap: measure how faithful LLM user simulators are to real people in agentic conversations.

Stages are sub-packages, each importing only earlier ones:
models -> store -> llm -> domains -> agents -> users -> sessions -> study -> feedback
-> annotate -> metrics -> report -> cli.
"""

import os as _os

# litellm fetches its model price map from GitHub at import time unless told otherwise; simgap
# must work with no network, and the packaged copy is what cost accounting should use anyway.
_os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
