"""Generated README blocks for host-side costs: host stages vs their anchors, the camera loop, the
detection decode, evaluation speed."""

from __future__ import annotations

import re
from typing import Any

from readme_format import Results, load_text, loaded, ms, pct, section, table, x


def _ours_over_ref(r: dict[str, Any], ref_key: str = "reference_ms") -> float:
    return r["ours_ms"] / r[ref_key]


@section("host_stages")
def host_stages(res: Results) -> str:
    d = res["host_stages"]
    t, rof, cv = (
        d["tvm_vs_art_totalvarmin"],
        d["rof_vs_skimage_tv_chambolle"],
        d["opencv_stages_vs_raw_calls"],
    )
    rows = []
    names = {
        "art_defaults_vs_ours_10_iters": (
            "`tvm` 10 iterations",
            "ART `TotalVarMin` defaults (10 L-BFGS-B iterations)",
        ),
        "art_defaults_vs_ours_100_iters": (
            "`tvm` 100 iterations",
            "ART `TotalVarMin` defaults (10 L-BFGS-B iterations)",
        ),
        "both_100_iters": ("`tvm` 100 iterations", "ART `TotalVarMin`, 100 iterations"),
    }
    for k, (ours, ref) in names.items():
        if k in t:
            r = t[k]
            rows.append([ours, ref, ms(r["ours_ms"]), ms(r["reference_ms"]), x(_ours_over_ref(r), 3)])
    rnames = {
        "defaults": ("`rof` 200 iterations", "skimage `denoise_tv_chambolle` default stop"),
        "ours_10_iters_vs_skimage_default": ("`rof` 10 iterations", "skimage default stop"),
        "both_200_iters": ("`rof` 200 iterations", "skimage, 200 iterations"),
    }
    for k, (ours, ref) in rnames.items():
        r = rof[k]
        err = f" (max error {r['ours_err_max_mean'][0]:g} vs {r['skimage_err_max_mean'][0]:g})"
        rows.append([ours + err, ref, ms(r["ours_ms"]), ms(r["reference_ms"]), x(_ours_over_ref(r), 2)])
    for k, label in (("nlm", "`nlm:11_3_4`"), ("jpeg", "`jpeg:75`"), ("kmeans", "`kmeans:8`")):
        r = cv[k]
        rows.append(
            [label, "the raw OpenCV call", ms(r["ours_ms"]), ms(r["raw_opencv_ms"]), x(r["ours_over_raw"], 2)]
        )
    head = ["edgeguard stage", "anchor", "ours ms / image", "anchor ms / image", "ours ÷ anchor"]
    text = table(head, rows, "llrrr")
    dip = d.get("dip", {})
    drows = [
        [
            k.replace("_", " "),
            f"{v['seconds']:.1f}",
            v["iterations"],
            v["stopped_by"],
            ms(v["ms_per_iteration"]),
        ]
        for k, v in dip.items()
        if isinstance(v, dict)
    ]
    if drows:
        text += "\n\n" + table(
            ["DIP run (one image)", "wall seconds", "iterations", "stopped by", "wall ms / iteration"], drows
        )
    return text + (
        "\n\nRatios from medians of interleaved calls (ours, anchor, ours, …) on 224² photos; the max "
        "errors are against skimage run to 1,000 iterations. ART solves its own objective (L2 norm, "
        "row-wise TV) per image with scipy L-BFGS-B, `tvm` the isotropic masked TV-L2 with batched "
        "Chambolle–Pock, same keep and λ."
    )


@section("host_stages_summary")
def host_stages_summary(res: Results) -> str:
    d = res["host_stages"]
    t, rof, cv = (
        d["tvm_vs_art_totalvarmin"],
        d["rof_vs_skimage_tv_chambolle"],
        d["opencv_stages_vs_raw_calls"],
    )
    plateau, fixed = d["dip"]["64x64_plateau"], d["dip"]["64x64_fixed_1750"]
    busy = f" clock, load average {load_text(d)} on {d['machine']['cores']} cores" if loaded(d) else ""
    return (
        f"CPU cost (224×224 photos, `benchmarks/results/host_stages.json`, interleaved; the table is in "
        f"[Benchmarks](#benchmarks)): `tvm` at 100 iterations takes "
        f"{x(_ours_over_ref(t['art_defaults_vs_ours_100_iters']), 3)} the time of ART TotalVarMin's defaults "
        f"({x(_ours_over_ref(t['both_100_iters']), 4)} at equal iterations); `nlm` costs "
        f"{x(cv['nlm']['ours_over_raw'])} the raw OpenCV call; `rof` costs "
        f"{x(_ours_over_ref(rof['both_200_iters']))} skimage's at equal iterations on CPU (the same code "
        f"runs batched on CUDA); DIP took {plateau['seconds']:.0f} s (wall{busy}) per 64×64 image with the "
        f"plateau stop ({plateau['iterations']} iterations) and {fixed['seconds']:.0f} s for the fixed 1750. "
        "On CPU, DIP is an escalation step, not an always-on one."
    )


def _fps_row(label: str, r: dict[str, Any]) -> list[str]:
    f = r["fps"]
    lat = r["latency_ms"]
    budget = r.get("pipeline") or {}
    slowest = budget.get("slowest")
    eff = (
        f"{budget['efficiency']:.2f} ({slowest})" if slowest and budget.get("efficiency") is not None else "—"
    )
    return [
        label,
        f"{f['end_to_end']:.0f}",
        f"{f['engine_only']:.0f}",
        f"{f['ratio']:.2f}",
        eff,
        ms(lat["p50"]),
        ms(lat["p95"]),
    ]


@section("camera")
def camera(res: Results) -> str:
    d = res["camera"]
    rows = [
        _fps_row("sign model, overlay + MP4 recording", d["fps_full_outputs"]),
        _fps_row("sign model, inference only", d["fps_inference_only"]),
        _fps_row("sign model, paced at 30 FPS (newest frame wins)", d["latency_live_30fps"]),
        _fps_row("ResNet-18 224², overlay + MP4 recording", d["fps_full_outputs_resnet18_224"]),
    ]
    head = [
        "loop (640×480 frames)",
        "end-to-end FPS",
        "engine-only FPS",
        "end to end ÷ engine-only",
        "end to end ÷ slowest stage in the loop",
        "capture→result p50 ms",
        "p95 ms",
    ]
    s = d["soak"]
    rss = s["rss_mb"]
    warm = next(v for k, v in rss.items() if k.startswith("warm"))
    load = ""
    if loaded(d):
        load = (
            f"\n\nWall-clock figures, measured while the 1-minute load average went {load_text(d)} on "
            f"{d['machine']['cores']} cores: the FPS and latencies are that loaded machine's; the ratios are "
            "what carries over."
        )
    return (
        table(head, rows)
        + load
        + (
            f"\n\nSoak: {s['frames']:,} frames with overlay, events and recording in {s['wall_s']:.0f} s; "
            f"RSS {warm:,.0f} → {rss['end']:,.0f} MiB after warm-up ({s['rss_growth_pct']:+.2f} %, target < "
            f"{s['target_growth_pct']:g} %); dropped {s['dropped']} (paced run: "
            f"{d['latency_live_30fps']['dropped']} dropped). End to end / engine-only target: "
            f"{d['target_e2e_over_engine']:g}."
        )
    )


@section("detect_decode")
def detect_decode(res: Results) -> str:
    d = res["detect_decode"]
    rows = []
    for r in d["decision"]:
        layout = "scattered" if r["scattered"] else (f"{r['objects']} objects" if r["objects"] else "—")
        rows.append(
            [
                f"{r['candidates']:,}",
                layout,
                f"{r['max_nms']:,}",
                r["kept"],
                ms(r["cpu_p50_ms"]),
                ms(r["cpu_p95_ms"]),
            ]
        )
    text = table(["candidates above 0.25", "layout", "`max_nms`", "kept", "CPU p50 ms", "CPU p95 ms"], rows)
    n = d.get("nms_1000_clustered", {})
    if n:
        text += (
            f"\n\nNMS alone on 1,000 clustered candidates: edgeguard {ms(n['nms']['cpu_p50_ms'])} ms, "
            f"numpy loop {ms(n['nms_numpy']['cpu_p50_ms'])} ms, bare `cv2.dnn.NMSBoxes` "
            f"{ms(n['cv2_dnn_NMSBoxes_bare']['cpu_p50_ms'])} ms; "
            f"letterbox 640×480 → 640²: {ms(d['letterbox_640x480_to_640_ms']['cpu_p50_ms'])} ms. Target: "
            f"≤ {d['targets']['decode_nms_1000_ms']:g} ms with 1,000 candidates (CPU time of one thread)."
        )
    return text


@section("eval_speed")
def eval_speed(res: Results) -> str:
    d = res["eval_speed"]
    tg = d.get("targets", {})
    rows = []
    for key, label, target in (
        ("pgd20", "PGD-20, 8/255", tg.get("pgd20_n500_s")),
        ("autoattack", "AutoAttack standard, 8/255", tg.get("autoattack_n100_s")),
    ):
        if key in d:
            r = d[key]
            rows.append(
                [
                    label,
                    r["n"],
                    f"**{r['cell_s']:.0f}**",
                    f"{target:g}" if target else "—",
                    f"{r['naive_s']:.0f}",
                    f"{r['adaptive_s']:.0f}",
                    f"{r['deploy_s']:.0f}",
                    pct(r["clean_accuracy"]),
                    pct(r["naive_robust_accuracy"]),
                    pct(r["adaptive_robust_accuracy"]),
                ]
            )
    head = [
        "cell (naive + adaptive)",
        "n",
        "seconds",
        "target s",
        "naive s",
        "adaptive s",
        "export + check s",
        "clean",
        "robust naive",
        "robust adaptive",
    ]
    return table(head, rows) + (
        f"\n\nConfiguration `{d['config']['model']}` + "
        f"{' + '.join(f'`{s}`' for s in d['config']['defenses'])}, "
        "adversarial images scored on the exported engine. A random configuration multiplies the attack "
        "cost by its EOT draws (20 by default)."
    )


def _console(run: dict[str, Any]) -> str:
    # bench prints the --json path it wrote, resolved: the run's scratch folder means nothing to a reader
    out = re.sub(r"^wrote /\S*/([^/\s]+)$", r"wrote \1", run["stdout"].rstrip(), flags=re.M)
    return f"```console\n$ {run['command']}\n{out}\n```"


@section("bench_cli_sweep")
def bench_cli_sweep(res: Results) -> str:
    return _console(res["bench_cli"]["sweep"])


@section("bench_cli_compare")
def bench_cli_compare(res: Results) -> str:
    return _console(res["bench_cli"]["compare"])


@section("bench_cli_note")
def bench_cli_note(res: Results) -> str:
    e = res["bench_cli"]["compare"]["json"]["compare"]["stages"]["engine"]
    return (
        "The two engines must take the same input (size, colour, tensor shape), or the ratio would measure "
        "the images. Here both sides are the same file, so any difference between their p50 columns is "
        f"the machine's: engine p50 {ms(e['a']['p50'])} vs {ms(e['b']['p50'])} ms taken separately, while "
        f"the run-for-run ratio is {e['ratio']:.3f} ({e['low']:.3f}–{e['high']:.3f})."
    )
