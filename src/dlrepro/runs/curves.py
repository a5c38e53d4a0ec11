"""curves.png: accuracy and loss, train and test, against epochs (or steps for step-based runs)."""

from __future__ import annotations

from pathlib import Path

from dlrepro import plotting


def plot_curves(rows: list[dict], path: Path, title: str, svg: bool = False,
                caption: str = "") -> plotting.Saved | None:
    if not rows:
        return None
    by_epoch = rows[0].get("epoch") is not None
    xs = [r["epoch"] if by_epoch else r["step"] for r in rows]
    fig, (ax_acc, ax_loss) = plotting.figure(1, 2, figsize=(11, 4))
    for ax, metric, label in ((ax_acc, "acc", "accuracy"), (ax_loss, "loss", "loss")):
        for split, style in (("train", "-"), ("test", "--")):
            ys = [r[f"{split}_{metric}"] for r in rows]
            ax.plot(xs, [float("nan") if y is None else y for y in ys], style, marker="." if len(xs) < 60 else None,
                    label=split)
        ax.set_xlabel("epoch" if by_epoch else "step")
        ax.set_ylabel(label)
        if by_epoch:
            plotting.integer_ticks(ax)
    plotting.legend_outside(ax_loss)
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.set_title(f"{title}: accuracy")
    ax_loss.set_title(f"{title}: loss")
    return plotting.save(fig, path, svg=svg, caption=caption)
