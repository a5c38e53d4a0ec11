"""Run directories (their format is dlrepro.run_format's): `rundir` (one run directory: its files written and
read back for --resume, the writer lock, `RunObserver`), `checkpoint` (torch's format or a NumPy archive),
`curves` (curves.png), `tensorboard` (the --tensorboard observer), `execute` (one run or one seed population
end to end, used by `train` and both sweep backends) and `load` (finished runs read back from a results
folder, as untrusted input, for the claims and the report). May import dlrepro.train and the leaf modules
(files, plotting, errors, run_format); never claims/, studies/, sweep/ or report/."""
