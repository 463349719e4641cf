"""onnxruntime GPU execution-provider options: the second GPU path beside native TensorRT plans.

``provider_options`` turns the provider names chosen by ``choose_providers`` into ``(name, options)``
pairs for ``InferenceSession(providers=…)``. The TensorRT EP gets an engine cache and a timing cache in
``<model folder>/.trt_cache`` (its first session builds the engine; later ones load it) and the precision
enables the graph needs — with TensorRT ≤ 10 the EP builds weakly typed, so an FP16 graph needs
``trt_fp16_enable`` and a Q/DQ graph ``trt_int8_enable``. onnxruntime ≥ 1.27 with TensorRT 11 builds
strongly typed and takes precision from the graph alone (its docs); there these enables have no effect.
"""

from __future__ import annotations

from pathlib import Path

from ..manifest import Manifest

TRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CACHE_DIR = ".trt_cache"


def provider_options(
    providers: list[str], model_path: str | Path, manifest: Manifest | None, workspace_mb: int = 1024
) -> list[str | tuple[str, dict[str, str]]]:
    """Attach options to the CUDA/TensorRT providers in ``providers`` (others pass through unchanged)."""
    precision = manifest.precision.mode if manifest else "fp32"
    out: list[str | tuple[str, dict[str, str]]] = []
    for name in providers:
        if name == TRT_EP:
            cache = Path(model_path).resolve().parent / CACHE_DIR
            out.append(
                (
                    name,
                    {
                        "trt_engine_cache_enable": "True",
                        "trt_engine_cache_path": str(cache),
                        "trt_timing_cache_enable": "True",
                        "trt_timing_cache_path": str(cache),
                        "trt_max_workspace_size": str(int(workspace_mb) << 20),
                        "trt_fp16_enable": "True" if precision == "fp16" else "False",
                        "trt_int8_enable": "True" if precision == "int8" else "False",
                    },
                )
            )
        elif name == CUDA_EP:
            out.append((name, {"device_id": "0", "cudnn_conv_algo_search": "HEURISTIC"}))
        else:
            out.append(name)
    return out
