"""The other side of reconciliation: OpenAI's own numbers, from the organization Usage and Costs
APIs (``api``) or from a CSV exported from OpenAI's usage dashboard (``dashboard_csv``)."""
