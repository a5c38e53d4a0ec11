"""The report, rebuilt from a results folder alone (never importing a user's plugin, never training): one
module per built-in study (figures, tables), `registry` (the built-in studies by name), `generic` (any other
study's section), `verdict` (the claims' glance table and details), `tables`, `document` (Markdown and HTML)
and `build` (report.md, report.html, claims.json). The claims are judged in dlrepro.claims; this package
renders. May import every package to its left (runs, claims, studies, train's configs, registry); never
sweep/, and never torch."""
