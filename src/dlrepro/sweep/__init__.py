"""Running a study's trials: `study` (its trials, the data-source check, the record, the backend, runs.csv,
--dry-run's plan), `trials` (what both backends share: options, results, the "already done" pre-pass),
`local` (a process pool) and `ray_backend` (Ray Tune), `table` (runs.csv). May import dlrepro.studies,
runs and train; never report/. Ray is imported only for --backend ray."""
