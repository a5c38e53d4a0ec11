"""checkpoint.pt on disk: the engine's checkpoint dict in one of two formats, chosen by what it holds.

    torch   any checkpoint holding torch objects (tensors, optimizer state, generator states): `torch.save`,
            read back with `torch.load(weights_only=True)`.
    numpy   a checkpoint whose arrays are all NumPy arrays (the NumPy MLP's): a NumPy .npz archive
            (`np.load`, no pickle), so the from-scratch path never imports torch. Entry `__tree__` holds the
            dict as JSON with each array replaced by {"__ndarray__": "<entry>"}; the arrays are the other
            entries, bit for bit.
Both are zip files; a numpy one is recognised by its `__tree__.npy` member.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

TREE = "__tree__"
_PLAIN = (type(None), bool, int, float, str)


def _is_numpy(obj) -> bool:
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _is_numpy(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_is_numpy(v) for v in obj)
    return isinstance(obj, (np.ndarray, np.integer, np.floating, *_PLAIN))


def _encode(obj, arrays: dict[str, np.ndarray]):
    if isinstance(obj, dict):
        return {k: _encode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = obj
        return {"__ndarray__": name}
    return obj.item() if isinstance(obj, np.generic) else obj


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__"}:
            return arrays[obj["__ndarray__"]]
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def dumps(checkpoint: dict) -> bytes:
    """`checkpoint` serialised in memory (the caller writes the bytes atomically; a full disk then fails in
    one plain write)."""
    buf = io.BytesIO()
    if _is_numpy(checkpoint):
        arrays: dict[str, np.ndarray] = {}
        tree = json.dumps(_encode(checkpoint, arrays))
        np.savez(buf, allow_pickle=False, **{TREE: np.array(tree)}, **arrays)  # `load` reads without pickle
    else:
        import torch

        torch.save(checkpoint, buf)
    return buf.getvalue()


def load(path: Path) -> dict:
    """Read a checkpoint written by `dump` (either format). Raises on a damaged file."""
    with zipfile.ZipFile(path) as z:
        numpy_format = f"{TREE}.npy" in z.namelist()
    if numpy_format:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return _decode(json.loads(str(arrays.pop(TREE))), arrays)
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
