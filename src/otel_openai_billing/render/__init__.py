"""Renderers: report rows -> a terminal table, CSV, JSON, or one self-contained HTML file."""
