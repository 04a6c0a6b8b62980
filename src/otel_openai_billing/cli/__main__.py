"""``python -m otel_openai_billing.cli``."""

from . import main

raise SystemExit(main())
