"""Generated README blocks for engine costs: fused defenses, median graphs, detector, masking,
onnxruntime vs torch, precision, scaling."""

from __future__ import annotations

from typing import Any

from readme_format import Results, ms, patch_entries, pct, ratio, section, table, verdict, x


def _fused_rows(block: dict[str, Any], target: float | None) -> list[list[str]]:
    out = []
    for r in block["rows"]:
        out.append(
            [
                f"{block['model']} {block['size']}²",
                r["batch"],
                r["threads"],
                ms(r["ms"]["bare"]["p50"]),
                ms(r["ms"]["fused"]["p50"]),
                ratio(r["ratio"]["fused"]),
                verdict(r["ratio"]["fused"], target),
            ]
        )
    return out


@section("defense_overhead")
def defense_overhead(res: Results) -> str:
    d = res["defense_overhead"]
    rows = _fused_rows(d["resnet50"], d["resnet50"].get("target_ratio")) + _fused_rows(d["signs"], None)
    head = ["model", "batch", "ORT threads", "bare p50 ms", "fused p50 ms", "fused / bare (95 %)", "target"]
    return table(head, rows)


@section("median_graphs")
def median_graphs(res: Results) -> str:
    g = res["defense_overhead"]["median_graphs"]
    names = {
        "minmax": "18 Min/Max (before)",
        "edgeguard": "edgeguard (1×3 MaxPool)",
        "all_pools": "all MaxPool",
    }
    others = [f for f in g["forms"] if f != "minmax"]
    rows = []
    for r in g["rows"]:
        cells = [f"{r['batch']} × {r['size']}²"] + [ms(r["ms"][f]["p50"]) for f in g["forms"]]
        cells += [ratio(r["ratio"][f]) for f in others]
        cells.append(
            "yes" if all(r["onnx_exact"].values()) and all(g["torch_exact_vs_scipy"].values()) else "**no**"
        )
        rows.append(cells)
    head = ["input"] + [f"{names.get(f, f)} p50 ms" for f in g["forms"]]
    head += [f"{names.get(f, f)} ÷ before (95 %)" for f in others] + ["all = scipy"]
    return table(head, rows)


@section("median_3x3")
def median_3x3(res: Results) -> str:
    m = res["defense_overhead"]["median_3x3"]
    names = {
        "edgeguard_torch_eager": "edgeguard `median_smooth` (torch eager)",
        "scipy_ndimage": "`scipy.ndimage.median_filter`",
        "opencv_medianBlur_uint8": "OpenCV `medianBlur` (uint8, other border)",
        "art_spatial_smoothing": "ART `SpatialSmoothing`",
    }
    rows = [
        [names.get(k, k), ms(v["p50"]), ratio(m["ratio"].get(k)) if k in m["ratio"] else "1 (reference)"]
        for k, v in m["ms"].items()
    ]
    return table([f"3×3 median, 1 × {m['size']}², 1 thread", "p50 ms", "÷ edgeguard (95 %)"], rows)


@section("squeeze_overhead")
def squeeze_overhead(res: Results) -> str:
    d = res["squeeze_overhead"]
    rows = []
    for m in d["models"]:
        for r in m["rows"]:
            rows.append(
                [
                    f"{m['model']} {m['size']}²",
                    r["batch"],
                    ms(r["ms"]["bare"]["p50"]),
                    ms(r["ms"]["detector"]["p50"]),
                    ratio(r["ratio"]["detector"]),
                    verdict(r["ratio"]["detector"], m.get("target_ratio")),
                ]
            )
    head = [
        "model (+ bits:5, median:3x3)",
        "batch",
        "no detector p50 ms",
        "detector p50 ms",
        "detector / none (95 %)",
        "target",
    ]
    return table(head, rows)


@section("masking_cost")
def masking_cost(res: Results) -> str:
    d = res["masking_cost"]
    rows = [
        [
            f"{r['patch']:g}",
            f"{r['patch_px']} px",
            f"{r['masks']} of {r['mask_px']} px",
            ms(r["ms"]["bare"]["p50"]),
            ms(r["ms"]["first_round"]["p50"]),
            ratio(r["ratio"]["first_round"], 1),
        ]
        for r in d["rows"]
    ]
    head = [
        "patch (of the face)",
        "patch",
        "masks",
        "bare p50 ms",
        "first round p50 ms",
        "first round / bare (95 %)",
    ]
    return table(head, rows)


@section("masking")
def masking(res: Results) -> str:
    d = res["masking"]
    rows = []
    for p, r in sorted(patch_entries(d).items(), key=lambda kv: -float(kv[0])):
        lat = r["latency"]
        rows.append(
            [
                f"{float(p):g}",
                r["n"],
                pct(r["clean_accuracy_double_masking"], 0),
                f"**{pct(r['certified_fraction'], 0)}**",
                pct(r["first_round_unanimous"], 0),
                ms(lat["bare_engine_ms"]),
                ms(lat["masking_first_round_ms"]),
                ms(lat["masking_certified_decision_ms_mean"]),
            ]
        )
    head = [
        "patch",
        "stop signs",
        "double-masking acc.",
        "certified",
        "first round unanimous",
        "bare ms",
        "first round ms",
        "certified decision ms (mean)",
    ]
    return table(head, rows) + (
        "\n\n(`masking.json`: latencies from separate, not interleaved, runs — compare the ratios above.)"
    )


@section("ort_vs_torch")
def ort_vs_torch(res: Results) -> str:
    d = res["ort_vs_torch"]
    rows = []
    for m in d["models"]:
        for r in m["rows"]:
            e, p = r["engine"], r["pipeline"]
            rows.append(
                [
                    f"{m['model']} {m['size']}²",
                    r["batch"],
                    ms(e["ms"]["onnxruntime"]["p50"]),
                    ms(e["ms"]["torch"]["p50"]),
                    ratio(e["ratio"]["torch"]),
                    ratio(p["ratio"]["torch"]),
                ]
            )
    head = [
        "model (+ bits:5, median:3x3)",
        "batch",
        "onnxruntime engine p50 ms",
        "torch eager engine p50 ms",
        "engine: torch ÷ ORT (95 %)",
        "whole pipeline: torch ÷ ORT (95 %)",
    ]
    return table(head, rows)


@section("precision")
def precision(res: Results) -> str:
    d = res["precision"]
    lat = {r["batch"]: r for r in d.get("latency", [])}
    rows = []
    for p, r in d["precisions"].items():
        cells = [p, pct(r["top1"]), pct(r["agreement_with_fp32"]), f"{r['file_kb'] / 1024:.1f} MB"]
        for b in (1, 32):
            if b in lat:
                cells.append(
                    f"{ms(lat[b]['ms'][p]['p50'])} ms"
                    + (f", {ratio(lat[b]['ratio'][p])}" if p in lat[b]["ratio"] else "")
                )
        rows.append(cells)
    head = ["precision", "top-1", "agreement with fp32", "file"] + [
        f"batch {b} p50 (÷ fp32, 95 %)" for b in (1, 32) if b in lat
    ]
    return table(head, rows) + (
        f"\n\n{d['test_images']:,} held-out renders, `{d['weights']}` with {' → '.join(d['defenses'])} "
        f"fused, int8 calibrated on {d['calib_images']} renders: int8 costs {d['int8_drop_points']:g} "
        "points of top-1."
    )


@section("scaling")
def scaling(res: Results) -> str:
    d = res["scaling"]
    variants = [v for v in d["by_size"][0]["ms"] if v != "bare"]
    rows = []
    for key in ("by_size", "by_batch"):
        for p in d[key]:
            if key == "by_batch" and p["batch"] == 1:
                continue  # the same point as the first size
            cells = [f"{p['batch']} × {p['size']}²", ms(p["ms"]["bare"]["p50"])]
            cells += [x(p["ratio"][v]["ratio"], 1 if p["ratio"][v]["ratio"] >= 10 else 2) for v in variants]
            rows.append(cells)
    head = ["batch × input", "bare network p50 ms"] + [f"{v} ÷ bare" for v in variants]
    return (
        table(head, rows)
        + f"\n\n![latency vs input size and batch]({d['plot']})\n\n"
        + "Sign network (shipped weights) in onnxruntime, one thread; "
        f"`fused` = {' + '.join(d['defenses'])}; `detector` = fused + `{d['detector']}`; "
        f"`masking` = fused + `--masking {d['masking']}` (first round); "
        f"`tvm` = the `{d['tvm']}` host stage alone (torch, one thread). Ratios are medians of run-for-run "
        "ratios at each point."
    )


@section("precision_summary")
def precision_summary(res: Results) -> str:
    d = res["precision"]
    p = d["precisions"]
    lat = {r["batch"]: r for r in d.get("latency", [])}
    speed = ""
    if 1 in lat:
        r = lat[1]["ratio"]
        speed = (
            f" At batch 1, fp16 runs at {ratio(r['fp16'])} and int8 at {ratio(r['int8'])} fp32's time "
            "on this CPU."
        )
    fp16_agree = pct(p["fp16"]["agreement_with_fp32"], 0)
    return (
        f"Sign model (shipped weights, with `{' → '.join(d['defenses'])}` fused), {d['test_images']:,} "
        "held-out renders, onnxruntime CPU (`benchmarks/results/precision.json`, table in "
        f"[Benchmarks](#benchmarks)): fp32 {pct(p['fp32']['top1'])}, fp16 {pct(p['fp16']['top1'])} "
        f"({fp16_agree} agreement with fp32), int8 {pct(p['int8']['top1'])} top-1 "
        f"({pct(p['int8']['agreement_with_fp32'])} agreement) — a {d['int8_drop_points']:g}-point INT8 "
        "drop; the int8 file is "
        f"{p['int8']['file_kb'] / 1024:.1f} MB vs {p['fp32']['file_kb'] / 1024:.1f} MB.{speed}"
    )


@section("masking_latency")
def masking_latency(res: Results) -> str:
    cost = {r["patch"]: r for r in res["masking_cost"]["rows"]}
    cert = patch_entries(res["masking"])
    parts = []
    for p in sorted(cost):
        r = cost[p]
        part = f"patch {p:g}: first round {ratio(r['ratio']['first_round'], 0)} the bare engine"
        if str(p) in cert:
            full = cert[str(p)]["latency"]["masking_certified_decision_ms_mean"]
            part += f", full certified decision {ms(full)} ms"
        parts.append(part)
    return (
        "the masking engine's first round (one call, the frame and its one-masked copies) against the bare "
        "engine, interleaved (`benchmarks/results/masking_cost.json`), and the mean full certified decision "
        "(first round + one certificate call, `masking.json`): " + "; ".join(parts) + "."
    )
