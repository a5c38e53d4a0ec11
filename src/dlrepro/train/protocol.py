"""The protocol settings: where the reference's code ran something other than what its report states, one
run setting per difference, whose default is the stated behaviour (docs/protocols.md lists the values the
reference's code ran and the logged evidence for each).

Here are each setting's values, its help text (a config field declared by `setting_of`, whose metadata the
CLI and the checks read) and the checks that involve more than one field. The behaviours themselves wrap the
models' equations where they apply:
`dlrepro.models.outputs` (what a model emits into the loss), `dlrepro.train.batches` (sample order),
`dlrepro.data.toy` (split, generators), `dlrepro.numpy_nn.layers` (init), `dlrepro.models.rnn.TwoBiasRNN`
(biases), the tasks (train metrics, normalisation). Every setting is left out of config.json while at its
default, so earlier runs keep their ids.
"""

from __future__ import annotations

from dlrepro.errors import ConfigError
from dlrepro.train.settings import setting

OUTPUTS = ("logits", "softmax", "softmax-batch", "sigmoid")  # what the model emits into the cross-entropy
RNN_OUTPUTS = ("logits", "softmax", "sigmoid")
TRAIN_METRICS = ("eval", "running")        # epoch-based tasks
RNN_TRAIN_METRICS = ("running", "batch")   # step-based: the palindrome task
SPLITS = ("stratified", "first")           # = dlrepro.data.toy.SPLIT_KINDS (tested equal)
INITS = ("uniform", "normal-0.1")          # = dlrepro.numpy_nn.layers.INITS (tested equal)
ORDERS = ("each", "once", "none")          # = dlrepro.train.batches.ORDERS (tested equal)
NORMALIZATIONS = ("channel", "half")
BIASES = ("one", "two")                    # the vanilla RNN's recurrence: b_h, or b_hx + b_hh

# The fields, in the order of their first appearance (all in OMITTED_AT_DEFAULT).
SETTINGS = ("outputs", "train_metrics", "split", "init", "order", "normalize", "biases")

HELP: dict[str, tuple[str, tuple[str, ...]]] = {
    "outputs": (
        "what the model emits into the cross-entropy loss: logits (as stated), softmax (over the classes), "
        "softmax-batch (softmax over the batch axis: a prediction then depends on the rest of its batch, and "
        "evaluation goes in batches of --batch-size, in a fixed order) or sigmoid (per output); accuracy is the argmax "
        "of what it emits", OUTPUTS),
    "rnn_outputs": (
        "what the model emits into the cross-entropy loss: logits (as stated), softmax (over the classes) or "
        "sigmoid (per output); accuracy is the argmax of what it emits", RNN_OUTPUTS),
    "train_metrics": (
        "how train loss and accuracy are measured: eval (an evaluation pass over the training split) or running "
        "(the mean over the last epoch's batches in train mode, each before its update)", TRAIN_METRICS),
    "rnn_train_metrics": (
        "how train loss and accuracy are measured: running (the mean over the training batches since the last "
        "evaluation, each before its update) or batch (the batch the next step trains on, before its update)",
        RNN_TRAIN_METRICS),
    "split": (
        "the 80/20 train/test split: stratified (shuffled, class proportions kept) or first (the first 80% of "
        "the generated points train, the last 20% test)", SPLITS),
    "init": (
        "the MLP's initial weights: uniform (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), nn.Linear's "
        "default) or normal-0.1 (weights N(0, 0.1^2), biases 0)", INITS),
    "order": (
        "the order of the training samples: each (reshuffled every epoch), once (shuffled once before "
        "training, the same order every epoch) or none (the dataset's order)", ORDERS),
    "normalize": (
        "how CIFAR-10 inputs are normalised: channel (the training split's per-channel mean and std) or half "
        "(mean 0.5, std 0.5 per channel)", NORMALIZATIONS),
    "biases": (
        "the vanilla RNN's recurrence bias: one (b_h, the report's equation) or two (b_hx + b_hh, one per weight "
        "matrix, as two nn.Linear layers have: the same sum, trained as two parameters)", BIASES),
}


def setting_of(key: str, default: str, only: str | None = None, applies: tuple[str, str] | None = None):
    """The config field of protocol setting `key` (HELP): its help (with `only`: the runs it applies to) and
    its values, as `dlrepro.train.settings.setting` declares a setting (its values are checked there).
    `applies`: ("model" or "dataset", value), the runs a `train` command must be able to make to offer it."""
    text, values = HELP[key]
    extra = {"applies": applies} if applies else {}
    return setting(default, f"{text} ({only} only)" if only else text, choices=values, **extra)


def check_mlp(cfg) -> None:
    """An MLP config's protocol settings apply only where they mean something."""
    cifar = cfg.dataset == "cifar10"
    if cfg.model == "mlp-numpy" and cfg.outputs != "logits":
        raise ConfigError("--outputs: the NumPy MLP emits logits only; use mlp-torch for another output")
    if cfg.train_metrics != "eval" and not cifar:
        raise ConfigError("--train-metrics running is for CIFAR-10 runs only (dataset cifar10)")
    if cfg.normalize != "channel" and not cifar:
        raise ConfigError("--normalize is for CIFAR-10 runs only (dataset cifar10)")
    if cfg.split != "stratified" and cifar:
        raise ConfigError("--split is for the toy datasets only (CIFAR-10 has its own test set)")
