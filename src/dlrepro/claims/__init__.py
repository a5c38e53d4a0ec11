"""A study's claims, from the `[[claims]]` table to the verdict: `spec` (a claim as a study file states it),
`evidence` (the trials of the profile that ran, their runs, and a run's statistics), `rules` (the rule kinds,
RULES: what each compares and how the report states it), `judge` (a claim's parameters checked, the trials it
is judged from (`triage`), its rule applied) and `verdict` (a judged claim: what claims.json holds, as
claims.schema.json describes). A new rule kind is a change to this package only.

Its layer sits between runs/ and studies/: it may import dlrepro.runs (finished runs read back), dlrepro.train
and the leaf modules (run_format: the metric keys; text: how values are written). studies/ imports it (a study
file holds claims), and sweep/, report/ and the CLI sit above. It never imports studies/, sweep/ or report/,
and never torch.
"""
