"""Renderers of catalog data: rows, text formats, citations, tables and the site (no torch)."""
