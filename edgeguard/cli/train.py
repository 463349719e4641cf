"""``edgeguard train signs`` (train the embedded sign classifier) and ``edgeguard train eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ..errors import ConfigError
from ..registry import ATTACKS
from .app import app

train_app = typer.Typer(
    help="Train and evaluate the embedded traffic-sign classifiers and the person detector.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")


class _RichProgress:
    """Callback for :func:`edgeguard.train.train`: a rich progress bar plus one line per epoch."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]train[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task: Any = None

    def __call__(self, ev: dict[str, Any]) -> None:
        kind = ev["kind"]
        if kind == "start":
            self.console.print(
                f"data ready in {ev['setup_s']:.0f} s; {ev['total']} steps "
                f"({ev['steps_per_epoch']} per epoch), starting at step {ev['step']}"
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=ev["total"], completed=ev["step"], loss=0.0)
        elif kind == "step":
            self.progress.update(self.task, completed=ev["step"], loss=ev["loss"])
        elif kind == "epoch":
            masked = f"  masked val acc {ev['val_masked_acc']:.4f}" if "val_masked_acc" in ev else ""
            self.progress.console.print(
                f"epoch {ev['epoch']}: loss {ev['train_loss']:.3f}  train acc {ev['train_acc']:.3f}  "
                f"val acc {ev['val_acc']:.4f}{masked}  ({ev['epoch_s']:.0f} s)"
            )
        elif kind in ("done", "interrupted"):
            self.progress.stop()
            if kind == "interrupted":
                self.console.print(
                    f"interrupted at step {ev['step']}; checkpoint kept: {ev['checkpoint']} "
                    f"(continue with --resume)"
                )
            else:
                self.console.print(f"wrote {escape(str(ev['out']))} and {escape(str(ev['log']))}")


@train_app.command("signs")
def signs(
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output weights (.safetensors); the JSON log and "
        "checkpoint go next to it (NAME.json, NAME.ckpt.pt).",
    ),
    arch: str = typer.Option(
        "signs-resnet", help="signs-resnet | signs-resnet-denoise | signs-resnet-roa (signs-resnet's layers)"
    ),
    adv: str = typer.Option(
        "none",
        help="Adversarial training with a white-box attack, e.g. pgd:eps=8/255,steps=7, "
        "fgsm:eps=8/255 or roa:size=0.25,steps=5 (sticker-robust; on --adv-fraction of the batches).",
    ),
    adv_fraction: float = typer.Option(
        0.8, "--adv-fraction", min=0.0, max=1.0, help="Share of batches made adversarial by --adv."
    ),
    mask_aug: str = typer.Option(
        "none",
        "--mask-aug",
        help="Masked-copy augmentation for certified masking (PatchCleanser): "
        "patch=0.25[,masks=6,face=0.95,fill=0.5,share=0.5] — a share of every batch gets two masks "
        "from the --masking mask set of that geometry.",
    ),
    epochs: int = typer.Option(8, min=1),
    data: str = typer.Option("synthetic", help="synthetic | gtsrb:PATH | folder:PATH"),
    variety: str = typer.Option(
        "classic",
        help="How the synthetic signs are drawn: classic (the shipped models' data) | wide (random fonts, "
        "stroke widths, proportions, colours, wear, graffiti, stickers).",
    ),
    n_train: int = typer.Option(40000, "--n-train", min=1, help="Rendered training images (synthetic)."),
    n_val: int = typer.Option(1000, "--n-val", min=1, help="Validation images."),
    batch_size: int = typer.Option(128, "--batch-size", min=1),
    lr: float = typer.Option(0.1, help="Peak SGD learning rate (cosine schedule, short warm-up)."),
    init: str = typer.Option(None, help="Warm-start weights (e.g. the plain model for the denoise net)."),
    seed: int = typer.Option(0),
    threads: int = typer.Option(1, help="torch CPU threads (1 is fastest on a shared 2-core machine)."),
    workers: int = typer.Option(2, help="Processes that render the synthetic data."),
    resume: bool = typer.Option(False, "--resume", help="Continue from NAME.ckpt.pt (after Ctrl-C)."),
) -> None:
    """Train a traffic-sign classifier and write safetensors weights + a JSON log."""
    from ..data.looks import TRAIN_VARIETIES, check_variety
    from ..train import TrainConfig, train

    check_variety(variety, TRAIN_VARIETIES, "--variety")
    cfg = TrainConfig(
        out=str(out),
        arch=arch,
        data=data,
        variety=variety,
        epochs=epochs,
        n_train=n_train,
        n_val=n_val,
        batch_size=batch_size,
        lr=lr,
        adv=adv,
        adv_fraction=adv_fraction,
        mask_aug=mask_aug,
        init=init,
        seed=seed,
        threads=threads,
        workers=workers,
        resume=resume,
    )
    train(cfg, callbacks=[_RichProgress()])


@train_app.command("persons")
def persons(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output weights (.safetensors); the JSON log is NAME.json."
    ),
    steps: int = typer.Option(700, min=1, help="Training steps (each renders 12 fresh scenes)."),
    seed: int = typer.Option(0, help="Seed of the crops, flips and initialisation."),
    threads: int = typer.Option(1, min=1, help="torch CPU threads."),
    workers: int = typer.Option(1, min=0, help="Processes that render the scenes."),
    lr: float = typer.Option(2e-3, min=0.0, help="Peak AdamW learning rate (cosine schedule)."),
    warmup: int = typer.Option(40, min=1, help="Warm-up steps."),
    init: Path = typer.Option(None, help="Warm-start weights (stage 2 starts from stage 1)."),
    topk: int = typer.Option(0, min=0, help="Class positives per person (0 = every candidate; stage 2: 5)."),
    scene_offset: int = typer.Option(0, "--scene-offset", min=0, help="First training scene index."),
    tal: int = typer.Option(
        0, min=0, help="Task-aligned top-k with IoU-aware BCE targets (0 = off; stage 3: 10)."
    ),
    n_val: int = typer.Option(300, "--n-val", min=0, help="Validation scenes scored at the end (0 = none)."),
) -> None:
    """Train the embedded person detector on rendered surveillance scenes (fresh scenes every step).
    The shipped weights come from python -m edgeguard.train_persons with a pre-rendered scene pool
    (--pool 10000 --tal 10 ...; README, "The embedded persons detector")."""
    from ..outputs import OutputGroup
    from ..train_persons import PersonTrainConfig, train_persons

    if out.suffix != ".safetensors":
        raise ConfigError(f"--out {str(out)!r}: the weights file name must end in .safetensors")
    OutputGroup([out, out.with_suffix(".json")], what=["--out", "--out's log"], make_parents=True)
    cfg = PersonTrainConfig(
        out=str(out),
        steps=steps,
        seed=seed,
        threads=threads,
        workers=workers,
        lr=lr,
        warmup=warmup,
        init=str(init) if init else None,
        topk=topk,
        scene_offset=scene_offset,
        tal=tal,
        n_val=n_val,
    )
    res = train_persons(cfg, log=lambda line: typer.echo(line))
    typer.echo(f"wrote {out} ({res['train_s'] / 60:.1f} min of training)")


@train_app.command("eval")
def evaluate(
    models: list[str] = typer.Option(
        ["signs-resnet", "signs-resnet-denoise"],
        "--model",
        "-m",
        help="Registered sign models to evaluate (shipped weights).",
    ),
    n: int = typer.Option(2600, "-n", help="Held-out rendered test images (base seed TEST_SEED)."),
    attack: str = typer.Option(
        "pgd:eps=8/255,steps=20,alpha=2/255",
        help=ATTACKS.help("White-box attack for robust accuracy (none: skip)."),
    ),
    n_attack: int = typer.Option(2600, "--n-attack", help="Images attacked (a prefix of the test set)."),
    out: Path = typer.Option(
        None, help="Write the numbers as JSON (e.g. edgeguard/models/weights/signs-eval.json)."
    ),
    confusion: Path = typer.Option(None, help="Write the first model's confusion matrix PNG."),
    variety: str = typer.Option(
        "classic",
        help="How the test signs are drawn: classic (the published numbers) | wide | unseen (held-out "
        "fonts, proportions, palettes, borders, wear: a new user's own signs).",
    ),
) -> None:
    """Clean top-1 and PGD robust accuracy of the sign models on a held-out rendered set."""
    import shlex

    from ..data.looks import check_variety
    from ..train_eval import evaluate_models

    check_variety(variety, what="--variety")
    argv = [a for m in models for a in ("--model", m)] + ["-n", str(n), "--attack", attack]
    argv += ["--n-attack", str(n_attack), "--variety", variety] + (["--out", str(out)] if out else [])
    res = evaluate_models(
        models,
        n=n,
        attack=attack,
        n_attack=n_attack,
        out=out,
        confusion_png=confusion,
        variety=variety,
        command=shlex.join(["edgeguard", "train", "eval", *argv]),
    )
    for name, r in res["models"].items():
        robust = (
            f"  robust {r['robust_top1']:.4f} under {res['attack']} (n={r['n_attack']})"
            if "robust_top1" in r
            else ""
        )
        typer.echo(f"{name}: clean top-1 {r['clean_top1']:.4f} (n={r['n_clean']}){robust}")
