"""The LLM side of describing: a cached, retrying JSON chat client for OpenAI-compatible endpoints, its on-disk
response cache, and a local llama.cpp server (optional extra)."""

from modinterp.describe.llm.client import LLMEndpointError, LLMSettings, parse_extra_options

__all__ = ["LLMEndpointError", "LLMSettings", "parse_extra_options"]
