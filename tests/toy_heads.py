"""Tiny frozen TensorFlow heads in Essentia's file layout (.pb + .json), for tests and benchmarks.

Real Essentia heads cannot be downloaded here, so the code that finds, loads and runs heads is
exercised with graphs built from TensorFlow's protobuf classes (tensorboard ships them). A toy
head reads VGGish log-mel patches ``[batch, 96, 64]`` from ``model/Placeholder`` and returns
``softmax(mean(patch) * weights + biases)`` from ``model/Softmax``: its output depends on the
input level in a known direction, and its class order is whatever the json says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

INPUT_NODE = "model/Placeholder"
OUTPUT_NODE = "model/Softmax"
EMBEDDING_NODE = "model/Reshape"  # (batch, 1): what the head classifies, exposed as its "embeddings"
VGGISH = "TensorflowPredictVGGish"


def _graph(weights: np.ndarray, biases: np.ndarray, ballast: int = 0, on_embeddings: bool = False):
    from tensorboard.compat.proto import (
        attr_value_pb2,
        graph_pb2,
        node_def_pb2,
        tensor_pb2,
        tensor_shape_pb2,
        types_pb2,
    )

    float_t = attr_value_pb2.AttrValue(type=types_pb2.DT_FLOAT)
    int_t = attr_value_pb2.AttrValue(type=types_pb2.DT_INT32)

    def const(name: str, values: np.ndarray, dtype: int) -> node_def_pb2.NodeDef:
        tensor = tensor_pb2.TensorProto(
            dtype=dtype,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in values.shape]
            ),
            tensor_content=values.tobytes(),
        )
        return node_def_pb2.NodeDef(
            name=name,
            op="Const",
            attr={"dtype": attr_value_pb2.AttrValue(type=dtype), "value": attr_value_pb2.AttrValue(tensor=tensor)},
        )

    def op(name: str, kind: str, inputs: Sequence[str], **attrs: attr_value_pb2.AttrValue) -> node_def_pb2.NodeDef:
        return node_def_pb2.NodeDef(name=name, op=kind, input=list(inputs), attr=attrs)

    graph = graph_pb2.GraphDef()
    unknown = tensor_shape_pb2.TensorShapeProto(unknown_rank=True)
    graph.node.append(
        node_def_pb2.NodeDef(
            name=INPUT_NODE, op="Placeholder", attr={"dtype": float_t, "shape": attr_value_pb2.AttrValue(shape=unknown)}
        )
    )
    if on_embeddings:  # TensorflowPredict2D feeds (batch, [1, 1,] 1): flatten to (batch, 1)
        reduced = INPUT_NODE
    else:  # one number per VGGish patch: its mean log-mel energy
        graph.node.extend(
            [
                const("model/axes", np.array([1, 2], np.int32), types_pb2.DT_INT32),
                op("model/Mean", "Mean", [INPUT_NODE, "model/axes"], T=float_t, Tidx=int_t,
                   keep_dims=attr_value_pb2.AttrValue(b=False)),
            ]
        )  # fmt: skip
        reduced = "model/Mean"
    graph.node.extend(
        [
            const("model/shape", np.array([-1, 1], np.int32), types_pb2.DT_INT32),
            op(EMBEDDING_NODE, "Reshape", [reduced, "model/shape"], T=float_t, Tshape=int_t),
        ]
    )
    if ballast:  # unconnected weights: loading parses them like a real head's, running ignores them
        values = np.random.default_rng(0).standard_normal(ballast).astype(np.float32)
        graph.node.append(const("model/ballast", values, types_pb2.DT_FLOAT))
    graph.node.extend(
        [
            const("model/weights", weights.reshape(1, -1).astype(np.float32), types_pb2.DT_FLOAT),
            op("model/MatMul", "MatMul", [EMBEDDING_NODE, "model/weights"], T=float_t),
            const("model/biases", biases.astype(np.float32), types_pb2.DT_FLOAT),
            op("model/logits", "BiasAdd", ["model/MatMul", "model/biases"], T=float_t),
            op(OUTPUT_NODE, "Softmax", ["model/logits"], T=float_t),
        ]
    )
    return graph


def write_toy_head(
    folder: Path,
    model: str,
    classes: Sequence[str],
    weights: Sequence[float],
    biases: Sequence[float] | None = None,
    *,
    ballast: int = 0,
    with_schema: bool = True,
    embedding_model: str | None = None,
) -> Path:
    """Write ``<model>.pb`` and ``<model>.json`` (Essentia's metadata layout) and return the .pb path.

    ``ballast`` adds that many unused float weights, so load-time benchmarks see a realistic file size.
    With ``embedding_model`` (the stem of another toy head) the head classifies that model's
    embeddings through TensorflowPredict2D, like Essentia's heads on EffNet/MusiCNN embeddings.
    """
    weights_arr = np.asarray(weights, np.float32)
    biases_arr = np.zeros(len(classes), np.float32) if biases is None else np.asarray(biases, np.float32)
    if not len(classes) == weights_arr.size == biases_arr.size:
        raise ValueError("one weight and one bias per class")
    folder.mkdir(parents=True, exist_ok=True)
    pb = folder / f"{model}.pb"
    graph = _graph(weights_arr, biases_arr, ballast, on_embeddings=embedding_model is not None)
    pb.write_bytes(graph.SerializeToString())
    metadata: dict[str, object] = {
        "name": model,
        "type": "toy classifier for tests",
        "framework": "tensorflow",
        "classes": list(classes),
        "inference": {"sample_rate": 16000, "algorithm": VGGISH},
    }
    if embedding_model:
        metadata["inference"] = {
            "sample_rate": 16000,
            "algorithm": "TensorflowPredict2D",
            "embedding_model": {"algorithm": VGGISH, "model_name": embedding_model},
        }
    if with_schema:
        metadata["schema"] = {
            "inputs": [{"name": INPUT_NODE, "type": "float", "shape": [96, 64]}],
            "outputs": [
                {"name": EMBEDDING_NODE, "type": "float", "shape": [1, 1], "output_purpose": "embeddings"},
                {"name": OUTPUT_NODE, "type": "float", "shape": [1, len(classes)],
                 "output_purpose": "predictions"},  # fmt: skip
            ],
        }
    (folder / f"{model}.json").write_text(json.dumps(metadata, indent=2))
    return pb
