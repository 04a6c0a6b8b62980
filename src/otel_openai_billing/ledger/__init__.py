"""The billing ledger: the record schema, the background writer and the readers of every source."""
