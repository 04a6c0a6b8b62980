"""Exports of billing records to other systems: one module per destination."""
