"""A servable image classification pyfunc for server tests: answers each image with its size and the pixels
of the batch it arrived in, so a test sees how the server grouped decoded images without a real network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from algorithms.base.images import RESULT_COLUMN, images_of_frame


class SizeModel(mlflow.pyfunc.PythonModel):
    """``predict_images``: one result per RGB image, ``class_name`` its ``WxH``, ``batch_pixels`` the sum of
    the pixels of every image handed over in the same call."""

    scenario = "image_classification"

    def predict_images(self, images: list[Any], params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        batch = sum(image.size[0] * image.size[1] for image in images)
        return [
            {
                "predictions": [
                    {"class_id": 0, "class_name": f"{image.size[0]}x{image.size[1]}", "confidence": 1.0}
                ],
                "batch_pixels": batch,
            }
            for image in images
        ]

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        opened = images_of_frame(model_input)
        good = [image for image in opened if not isinstance(image, str)]
        answers = iter(self.predict_images(good, params))
        return pd.DataFrame(
            {RESULT_COLUMN: [{"error": o} if isinstance(o, str) else next(answers) for o in opened]}
        )


def save_size_model(directory: Path) -> Path:
    from algorithms.base.tracking import save_pyfunc

    return save_pyfunc(
        SizeModel(),
        directory / "model",
        pip_requirements=["pillow"],
        metadata={"scenario": "image_classification"},
    )
