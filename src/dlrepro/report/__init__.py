"""The report, rebuilt from a results folder alone (never importing a user's plugin, never training): one
module per built-in study (figures, tables), `registry` (the built-in studies by name), `generic` (any other
study's section), `load` (runs and evidence), `claims` (the reference claims and their verdicts), `tables`,
`document` (Markdown and HTML) and `build` (report.md, report.html, claims.json). May import every package
to its left (runs, studies, train's configs, registry); never sweep/, and never torch."""
