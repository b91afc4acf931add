"""Preprocessing as the weights expect it, and the way back to original-image pixels.

The network sees a (H, W, 3) float32 image in the config's channel order, as
``(pixel - input_mean) * input_scale`` with pixels 0..255. An image is resized keeping its aspect
ratio so that it fits the network input, and the rest is padded (bottom and right, so that map
coordinates need no offset). ``Letterbox`` remembers the scale to map keypoints back.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgepose.config import ModelConfig

PAD_VALUE = 0.0


@dataclass(frozen=True)
class Letterbox:
    """How an original image was placed into the network input.

    scale: network-input pixels per original pixel (same on both axes).
    image_size: (height, width) of the original image.
    input_size: (height, width) of the network input.
    content_size: (height, width) of the resized image inside the input (the rest is padding).
    """

    scale: float
    image_size: tuple[int, int]
    input_size: tuple[int, int]
    content_size: tuple[int, int]

    def map_to_image(self, xy: np.ndarray, stride: int) -> np.ndarray:
        """Map coordinates (pixel centres at integers, float) to original-image pixels.

        A map of stride s has its pixel i centred on input pixel ``(i + 0.5) * s - 0.5``.
        Returns a new array; ``xy`` is [..., 2] as x, y.
        """
        xy = np.asarray(xy, dtype=np.float32)
        in_xy = (xy + 0.5) * stride - 0.5
        return (in_xy + 0.5) / self.scale - 0.5


def fit_size(image_hw: tuple[int, int], target_hw: tuple[int, int]) -> tuple[float, tuple[int, int]]:
    """Largest aspect-preserving resize of ``image_hw`` inside ``target_hw``: (scale, (h, w))."""
    h, w = image_hw
    th, tw = target_hw
    scale = min(th / h, tw / w)
    return scale, (max(1, min(th, round(h * scale))), max(1, min(tw, round(w * scale))))


#: widest network input, as a multiple of its height, that a free-size model gets: a 20:1 panorama
#: would otherwise cost 15x a 4:3 photo; wider images are letterboxed (smaller, padded below).
MAX_ASPECT = 4.0


def dynamic_input_size(image_hw: tuple[int, int], height: int, stride: int = 8,
                       max_aspect: float = MAX_ASPECT) -> tuple[int, int]:
    """Input size for a model without a fixed shape: ``height`` tall, width following the aspect
    ratio, rounded up to a multiple of ``stride`` (so the padding is under one stride), and at most
    ``max_aspect`` x ``height`` wide (wider images are letterboxed into that)."""
    h, w = image_hw
    width = min(w * height / h, height * max_aspect)
    width = int(np.ceil(width / stride) * stride)
    return height, max(stride, width)


def letterbox(image: np.ndarray, input_hw: tuple[int, int], config: ModelConfig) -> tuple[np.ndarray, Letterbox]:
    """Turns a BGR uint8 image [h, w, 3] into the network input float32 [H, W, 3].

    Returns the input (in the config's channel order, mean and scale applied) and the
    ``Letterbox`` that maps outputs back to the image.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a BGR image [h, w, 3], got shape {image.shape}")
    scale, (ch, cw) = fit_size(image.shape[:2], input_hw)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (cw, ch), interpolation=interp)
    if config.channel_order == "RGB":
        resized = resized[..., ::-1]
    out = np.full((input_hw[0], input_hw[1], 3), PAD_VALUE, dtype=np.float32)
    content = resized.astype(np.float32)
    if config.input_mean != 0.0 or config.input_scale != 1.0:
        content = (content - config.input_mean) * config.input_scale
        out[:] = (PAD_VALUE - config.input_mean) * config.input_scale
    out[:ch, :cw] = content
    # The scale actually applied differs per axis by rounding; use the mean of both.
    eff = 0.5 * (ch / image.shape[0] + cw / image.shape[1])
    return out, Letterbox(eff, tuple(image.shape[:2]), tuple(input_hw), (ch, cw))
