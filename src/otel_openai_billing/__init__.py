"""OpenTelemetry instrumentation for the OpenAI Python SDK: what a bill is made of, on every call."""

from .instrumentor import OpenAIBillingInstrumentor
from .version import __version__

__all__ = ["OpenAIBillingInstrumentor", "__version__"]
