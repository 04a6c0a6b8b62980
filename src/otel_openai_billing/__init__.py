"""OpenTelemetry instrumentation for the OpenAI Python SDK: what a bill is made of, on every call."""

from .attribution import billing_context
from .budgets import BudgetExceeded, BudgetStoreUnavailable
from .instrumentor import OpenAIBillingInstrumentor
from .version import __version__

__all__ = [
    "BudgetExceeded",
    "BudgetStoreUnavailable",
    "OpenAIBillingInstrumentor",
    "__version__",
    "billing_context",
]
