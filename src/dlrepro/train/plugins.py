"""A user's own cell, CIFAR-10 model or optimizer, named by import path `package.module:Name` where a
registered name (dlrepro.registry) would go: in a study file, a --set, or a `train` flag.

`resolve(cfg)` checks each such class before any trial runs and records it in the config: `plugins`
(setting -> its path and the sha256 of its module's file: part of the run's identity, so an edited plugin
gets new trial ids instead of silently reusing stale runs) and `plugin_info` (the module's file and what
the class declares; not part of the identity). A problem is one ConfigError line naming the path:

- not importable, or no such name in the module; not a class;
- a cell: `Cls(input_dim, hidden_dim, num_classes, generator=None)`, forward (batch, time, input_dim) ->
  logits (batch, num_classes). A class attribute `broadcasts = True` says its forward also broadcasts over
  leading model axes (parameters stacked as by dlrepro.models.stacked), so seeds may train as one
  population; otherwise its runs are single runs;
- a CIFAR-10 model: `Cls()` or `Cls(num_classes=10)`, forward (batch, 3, 32, 32) -> (batch, 10);
- an optimizer: a torch.optim.Optimizer subclass taking (params, lr=...).
Each class is built and run once on a two-sample batch, in a child process with a time limit
(`dlrepro.train.isolation`): a module that calls sys.exit() or os._exit(), dies of a signal or hangs as it is
imported, built or run is one line too, and dlrepro itself never imported it. The checks of many configs run
in one such process (`resolve_all`), and a check once passed is not repeated in this process. A config whose
plugins are already recorded (in a worker, on a Ray node, on --resume) is only re-hashed: a module edited
since is refused.

The fields `plugins` and `plugin_info` (RECORDED) are written here only: a study file or --set may not set
them (dlrepro.studies.spec refuses them), so no study skips the check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path

from dlrepro import registry
from dlrepro.errors import ConfigError, DlreproError, one_line
from dlrepro.train.config import RNNConfig, RunConfig
from dlrepro.train.isolation import ChildFailed, in_child
from dlrepro.train.memory import fits

RECORDED = ("plugins", "plugin_info")  # a config's record of its user classes: set by `resolve`, never by a user


class PluginError(ConfigError):
    """A user's class that cannot be used: one line naming its import path and the problem."""


class PluginFailed(DlreproError):
    """A run naming a user's class failed while it was built or trained (an exception, or sys.exit() inside
    the user's code): one line naming the classes and the error, instead of a traceback."""


def blame(cfg: RunConfig, exc: BaseException, text: str) -> PluginFailed | None:
    """The PluginFailed line for `exc` (worded `text`) raised by a run of `cfg`, when `cfg` names a user's
    class and `exc` is not already a line of dlrepro's own (or an interrupt); else None."""
    if not user_fields(cfg) or isinstance(exc, DlreproError | OSError | KeyboardInterrupt):
        return None
    paths = ", ".join(f"{f} {getattr(cfg, f)}" for f in user_fields(cfg))
    return PluginFailed(one_line(f"training failed in a class of your own ({paths}): {text}", 500))


def _short(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def load_class(path: str) -> tuple[type, Path]:
    """The class at `path` and the file of the module defining it; PluginError naming the path when either
    is missing."""
    module_name, _, name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ModuleNotFoundError, and whatever the module raises as it runs
        raise PluginError(f"{path}: cannot import module {module_name} ({_short(exc)}); is it on PYTHONPATH?") from None
    if not hasattr(module, name):
        raise PluginError(f"{path}: module {module_name} has no {name}")
    obj = getattr(module, name)
    if not inspect.isclass(obj):
        raise PluginError(f"{path}: not a class (a {type(obj).__name__})")
    defining = sys.modules.get(obj.__module__, module)  # torch.optim:NAdam is defined in torch/optim/nadam.py
    file = getattr(defining, "__file__", None) or getattr(module, "__file__", None)
    if not file:
        raise PluginError(f"{path}: module {module_name} has no file to hash")
    return obj, Path(file).resolve()


def sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def _cell(cls: type, path: str, cfg: RunConfig) -> dict:
    import torch

    assert isinstance(cfg, RNNConfig)
    from dlrepro.data import palindrome

    n_in = palindrome.input_dim(cfg.one_hot)
    try:
        model = cls(n_in, cfg.hidden, 10, generator=torch.Generator().manual_seed(0))
    except Exception as exc:
        raise PluginError(f"{path}: wrong constructor: {cls.__name__}({n_in}, {cfg.hidden}, 10, generator=...) "
                          f"raised {_short(exc)}; a cell takes (input_dim, hidden_dim, num_classes, "
                          "generator=None)") from None
    x = torch.zeros(2, cfg.input_length, n_in)
    _forward(model, x, (2, 10), path, "a batch of 2 sequences")
    try:  # sized from the class, as a built-in cell
        needs = cfg.memory_needs()
    except Exception as exc:
        raise PluginError(f"{path}: cannot count its parameters: {cls.__name__}({n_in}, h, 10) for small "
                          f"sizes h raised {_short(exc)}") from None
    fits(needs)
    return {"broadcasts": getattr(cls, "broadcasts", False) is True}


def _net(cls: type, path: str, cfg: RunConfig) -> dict:
    import torch

    try:
        model = make_net(cls)
    except Exception as exc:
        raise PluginError(f"{path}: wrong constructor: {cls.__name__}() and {cls.__name__}(num_classes=10) "
                          f"raised {_short(exc)}") from None
    _forward(model, torch.zeros(2, 3, 32, 32), (2, 10), path, "a batch of 2 images (2, 3, 32, 32)")
    return {}


def _forward(model, x, want: tuple[int, ...], path: str, what: str) -> None:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise PluginError(f"{path}: not a torch.nn.Module")
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        raise PluginError(f"{path}: forward on {what} raised {_short(exc)}") from None
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != want:
        raise PluginError(f"{path}: wrong output shape: {what} gave {shape}, expected {want}")
    if not out.is_floating_point():
        raise PluginError(f"{path}: wrong output type: {what} gave {out.dtype}, expected floating-point logits")


def _optimizer(cls: type, path: str, cfg: RunConfig) -> dict:
    import torch

    if not issubclass(cls, torch.optim.Optimizer):
        raise PluginError(f"{path}: not a torch.optim.Optimizer subclass")
    p, lr = torch.nn.Parameter(torch.ones(2)), getattr(cfg, "lr", 1e-3)
    try:
        opt = cls([p], lr=lr)  # type: ignore[call-arg]
        p.grad = torch.ones(2)
        opt.step()
    except Exception as exc:
        raise PluginError(f"{path}: wrong constructor: {cls.__name__}(params, lr={lr:g}) and a step "
                          f"raised {_short(exc)}") from None
    return {}


CHECKS: dict[str, Callable[[type, str, RunConfig], dict]] = {"cell": _cell, "net": _net, "optimizer": _optimizer}


def user_fields(cfg: RunConfig) -> list[str]:
    """The settings of `cfg` that name a user's class (an import path, not a registered name)."""
    return [f for f, table in cfg.PLUGGABLE.items() if getattr(cfg, f) not in table]


def _check_key(field: str, path: str, cfg: RunConfig) -> tuple[str, str, str]:
    """What a check depends on: the setting, the path and the config's other settings (not its seed)."""
    settings = {k: v for k, v in cfg.to_dict().items() if k not in ("seed", *RECORDED)}
    return field, path, json.dumps(settings, sort_keys=True, default=str)


def _run_checks(jobs: list[tuple[str, str, RunConfig]]) -> list[tuple[str, dict, str, str]]:
    """In the child process: each (setting, path, config) checked, as ("ok", what the class declares, its
    module's file, the file's sha256) or ("error", {"line": the one line}, "", "")."""
    out = []
    for field, path, cfg in jobs:
        try:
            cls, file = load_class(path)
            digest = sha256(file)
            out.append(("ok", CHECKS[field](cls, path, cfg), str(file), digest))
        except PluginError as exc:
            out.append(("error", {"line": str(exc)}, "", ""))
        except SystemExit as exc:
            out.append(("error", {"line": f"{path}: called sys.exit({exc.code!r}) while being checked"}, "", ""))
        except Exception as exc:
            out.append(("error", {"line": f"{path}: the check raised {_short(exc)}"}, "", ""))
    return out


# check key -> (what the class declares, its module's file, that file's sha256 when checked)
_CHECKED: dict[tuple[str, str, str], tuple[dict, str, str]] = {}


def _check_all(jobs: list[tuple[str, str, RunConfig]]) -> None:
    """Run the checks not yet passed in this process, all in one child process (see the module docstring)."""
    todo = list({_check_key(*job): job for job in jobs if _check_key(*job) not in _CHECKED}.values())
    if not todo:
        return
    paths = ", ".join(dict.fromkeys(path for _, path, _ in todo))
    try:
        answers = in_child(_run_checks, (todo,), what="its check" if len(todo) == 1 else "their check")
    except ChildFailed as exc:
        raise PluginError(f"{paths}: {exc}") from None
    for job, (status, extra, file, digest) in zip(todo, answers, strict=True):
        if status != "ok":
            raise PluginError(extra["line"])
        _CHECKED[_check_key(*job)] = (extra, file, digest)


def resolve_all(cfgs: list[RunConfig]) -> list[RunConfig]:
    """Each config with its user classes checked and recorded (see the module docstring); a config naming
    none is returned as it is. The new checks run together, in one child process. Raises PluginError."""
    _check_all([(field, getattr(c, field), c) for c in cfgs if not getattr(c, "plugins", None)
                for field in user_fields(c)])
    return [_record(c) for c in cfgs]


def resolve(cfg: RunConfig) -> RunConfig:
    """`resolve_all` for one config."""
    return resolve_all([cfg])[0]


def _record(cfg: RunConfig) -> RunConfig:
    names = user_fields(cfg)
    if not names:
        return cfg
    recorded = getattr(cfg, "plugins", None) or {}
    plugins, info = {}, {}
    for field in names:
        path = getattr(cfg, field)
        old = recorded.get(field)
        if old is not None and old.get("path") == path:
            _, file = load_class(path)
            digest = sha256(file)
            if old.get("sha256") != digest:
                raise PluginError(f"{path}: {file} changed since this run was set up (sha256 {digest[:12]}, "
                                  f"recorded {str(old.get('sha256'))[:12]}); rerun the sweep to give it new trials")
            extra = {k: v for k, v in ((getattr(cfg, "plugin_info", None) or {}).get(field) or {}).items()
                     if k != "file"}
        else:
            key = _check_key(field, path, cfg)
            if key in _CHECKED and sha256(Path(_CHECKED[key][1])) != _CHECKED[key][2]:
                del _CHECKED[key]  # edited since it was checked: check it again
            _check_all([(field, path, cfg)])
            extra, name, digest = _CHECKED[key]
            file = Path(name)
        plugins[field] = {"path": path, "sha256": digest}
        info[field] = {**extra, "file": str(file)}
    return dataclasses.replace(cfg, plugins=plugins, plugin_info=info)  # type: ignore[call-arg]


def broadcasts(cfg: RunConfig) -> bool:
    """Whether a user's cell declared that it broadcasts over leading model axes (see `resolve`)."""
    return bool(((getattr(cfg, "plugin_info", None) or {}).get("cell") or {}).get("broadcasts"))


def make_net(cls):
    """A CIFAR-10 model: `cls(num_classes=10)` when its constructor takes num_classes, else `cls()`."""
    try:
        takes = "num_classes" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        takes = False
    return cls(num_classes=10) if takes else cls()


def build(value: str, table: dict):
    """The class (or factory) a setting names: a registered entry, or a user's class by import path."""
    return registry.load(registry.target(value, table))
