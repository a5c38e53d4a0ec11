"""Running a study's trials: `study` (its trials, the data-source check, the record, the backend, runs.csv,
--dry-run's plan), `trials` (what both backends share: options, results, the "already done" pre-pass),
`local` (the local backend) on `pool` (worker processes that each run one unit at a time: a crash, a
time limit or Ctrl-C costs only what it stops), `ray_backend` (Ray Tune), `progress` (the live view),
`estimate` (the time a sweep takes), `table` (runs.csv). May import dlrepro.studies,
runs and train; never report/. Ray is imported only for --backend ray."""
