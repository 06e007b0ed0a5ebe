"""The served model's input check: request bodies parsed the way `mlflow models serve` parses them.

`parse_tf_serving_input` and `_enforce_schema` are the scoring server's own steps before `predict`; with the
registered signature they hand the model what the client sent, and `images_from` accepts or refuses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.models.utils import _enforce_schema
from mlflow.utils.proto_json_utils import parse_tf_serving_input

from sweep.promote.registry import INPUT_EXAMPLE, SIGNATURE
from sweep.promote.serving import InputRefused, images_from

ACCEPTED = "expected uint8 RGB images [N, H, W, 3] or one image [H, W, 3], values 0..255"
IMAGE = (np.arange(3 * 4 * 3).reshape(3, 4, 3) * 7 % 256).astype(np.uint8)
"""One 3x4 RGB image whose pixels are all different."""
RELIABILITY = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
TABLE_START, TABLE_END = "<!-- served-model refusals: start -->", "<!-- served-model refusals: end -->"


def as_served(inputs: Any) -> Any:
    """`inputs` sent as a JSON body `{"inputs": ...}`, as the scoring server hands it to the model."""
    body = json.loads(json.dumps({"inputs": inputs}))
    return _enforce_schema(parse_tf_serving_input(body, SIGNATURE.inputs), SIGNATURE.inputs)


def test_a_batch_sent_as_json_arrives_as_the_same_uint8_pixels() -> None:
    images, single = images_from(as_served([IMAGE.tolist(), IMAGE[::-1].tolist()]))
    assert not single and images.dtype == np.uint8
    np.testing.assert_array_equal(images, np.stack([IMAGE, IMAGE[::-1]]))


def test_one_image_without_the_batch_axis_is_a_batch_of_one() -> None:
    images, single = images_from(as_served(IMAGE.tolist()))
    assert single and images.shape == (1, 3, 4, 3)
    np.testing.assert_array_equal(images[0], IMAGE)


def test_a_uint8_array_from_python_passes_the_signature_unchanged() -> None:
    batch = np.stack([IMAGE, IMAGE])
    images, single = images_from(_enforce_schema(batch, SIGNATURE.inputs))
    assert not single and images.dtype == np.uint8
    np.testing.assert_array_equal(images, batch)


def test_the_input_example_is_a_valid_request() -> None:
    images, single = images_from(as_served(INPUT_EXAMPLE.tolist()))
    assert images.shape == (1, 16, 16, 3) and not single


REFUSALS = [
    (
        "float pixels 0..1",
        [(IMAGE / 255).tolist()],
        f"{ACCEPTED}; got float64 pixels: scale 0..1 images by 255 and round to integers",
    ),
    ("a value below 0", [(IMAGE.astype(np.int64) - 1).tolist()], f"{ACCEPTED}; got values -1..244"),
    ("a value above 255", [(IMAGE.astype(np.int64) + 100).tolist()], f"{ACCEPTED}; got values 100..345"),
    ("booleans", [[[True, False, True]]], f"{ACCEPTED}; got bool values"),
    (
        "two images of different heights",
        [IMAGE.tolist(), IMAGE[:2].tolist()],
        "the images in one request must all have the same size; send one request per image size",
    ),
    (
        "two images of different widths",
        [IMAGE.tolist(), IMAGE[:, :2].tolist()],
        "the images in one request must all have the same size; send one request per image size",
    ),
    ("a grey image [1, H, W]", [IMAGE[..., 0].tolist()], f"{ACCEPTED}; got an array of shape (1, 3, 4)"),
    ("one pixel [3]", IMAGE[0, 0].tolist(), f"{ACCEPTED}; got an array of shape (3,)"),
]
"""(what is sent, as docs/reliability.md's table names it; the request's `inputs`; the one line refusing it)."""


@pytest.mark.parametrize(("sent", "inputs", "message"), REFUSALS, ids=[sent for sent, _, _ in REFUSALS])
def test_input_the_model_cannot_mean_is_refused_in_one_line(sent: str, inputs: Any, message: str) -> None:
    with pytest.raises(InputRefused) as refused:
        images_from(as_served(inputs))
    assert refused.value.message == message
    assert refused.value.get_http_status_code() == 400


def test_the_reliability_doc_lists_each_refusal_as_it_reads() -> None:
    text = RELIABILITY.read_text(encoding="utf-8")
    table = text[text.index(TABLE_START) : text.index(TABLE_END)]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| sent")]
    assert rows == [f"| {sent} | {message} |" for sent, _, message in REFUSALS]


def test_a_refusal_keeps_its_line_when_the_scoring_server_rewrites_the_message() -> None:
    refusal = InputRefused("the line")
    refusal.message = "Failed to predict data '[[[...]]]'. \nError: the line"  # what the server does
    assert refusal.message == "the line"
    assert json.loads(refusal.serialize_as_json())["message"] == "the line"
