"""Studies as TOML files: the built-in ones (`toy.toml`, `cifar_mlp.toml`, `optimizers.toml`,
`palindrome.toml`, package data), `spec` (a study file and --set overrides -> validated run configs) and
`record` (study.json / study.toml and reproduce.json in a results folder) and `claim_checks` (a study's
claims checked against its trials before a sweep; what --dry-run says each is judged from). May import
dlrepro.train (configs), runs (the atomic writes) and claims (a study file's [[claims]]); never sweep/ or
report/."""
