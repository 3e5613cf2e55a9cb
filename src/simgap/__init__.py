"""simgap: measure how faithful LLM user simulators are to real people in agentic conversations.

Stages are sub-packages, each importing only earlier ones:
models -> store -> llm -> domains -> agents -> users -> sessions -> study -> feedback
-> annotate -> metrics -> report -> cli.
"""

__version__ = "0.1.0"
