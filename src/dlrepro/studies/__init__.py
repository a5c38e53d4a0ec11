"""Studies as TOML files: the built-in ones (`toy.toml`, `cifar_mlp.toml`, `optimizers.toml`,
`palindrome.toml`, package data), `spec` (a study file and --set overrides -> validated run configs) and
`record` (study.json / study.toml in a results folder). May import dlrepro.train (configs) and runs (the
atomic writes); never sweep/ or report/."""
