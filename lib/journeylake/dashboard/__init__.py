"""The dashboard: one self-contained HTML page of plotly charts drawn from the gold tables."""
