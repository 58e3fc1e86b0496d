"""The team leader's report: figures from a plan (per team by default), as a self-contained HTML
page with inline SVG charts, as CSV and JSON, as a terminal table, and served by the daemon."""
