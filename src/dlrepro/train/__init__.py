"""Training: the run configs (`config`: one dataclass per model kind, validated, hashed), the one training
loop (`engine`), the tasks that plug into it (each single run beside its seed population: `numpy_mlp_task`,
`mlp_task`, `rnn_task`, `cifar_task`), `build` (config -> task), `plugins` (a user's class by import path,
checked and hashed), `isolation` (a user's code in a child process with a time limit), `memory` (will a
size fit) and `device`. May import dlrepro.data, numpy_nn, models, registry, seeds and errors; never runs/,
studies/, sweep/ or report/. torch is imported only by the torch tasks."""
