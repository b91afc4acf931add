"""Letterboxing and the way back to image pixels."""

from __future__ import annotations

import numpy as np

from edgepose.config import ModelConfig
from edgepose.preprocess import dynamic_input_size, letterbox


def test_letterbox_keeps_aspect_and_pads_bottom_right():
    image = np.full((300, 600, 3), 200, np.uint8)
    x, box = letterbox(image, (368, 432), ModelConfig())
    assert x.shape == (368, 432, 3) and x.dtype == np.float32
    assert box.content_size == (216, 432)
    assert np.all(x[:216] == 200) and np.all(x[216:] == 0)


def test_map_to_image_inverts_the_resize():
    # A bright pixel at image (x=450, y=120) must come back there from map coordinates.
    image = np.zeros((300, 600, 3), np.uint8)
    image[120, 450] = 255
    x, box = letterbox(image, (368, 432), ModelConfig())
    ys, xs = np.nonzero(x[..., 0])
    in_xy = np.array([xs.mean(), ys.mean()])
    map_xy = (in_xy + 0.5) / 8 - 0.5  # input pixel -> map coordinate at stride 8
    back = box.map_to_image(map_xy, 8)
    assert np.allclose(back, [450, 120], atol=1.0)


def test_rgb_config_swaps_channels_and_applies_scale():
    image = np.zeros((16, 16, 3), np.uint8)
    image[..., 0] = 10  # blue
    cfg = ModelConfig(channel_order="RGB", input_mean=128.0, input_scale=1 / 128)
    x, _ = letterbox(image, (16, 16), cfg)
    assert np.allclose(x[..., 2], (10 - 128) / 128) and np.allclose(x[..., 0], -1.0)


def test_dynamic_size_is_a_multiple_of_the_stride():
    assert dynamic_input_size((480, 640), 368) == (368, 496)
    assert dynamic_input_size((1, 1), 368) == (368, 368)
    h, w = dynamic_input_size((1000, 37), 368)
    assert h == 368 and w % 8 == 0 and w >= 8


def test_panoramas_are_capped_at_four_times_the_height_and_letterboxed():
    # 20:1 would be 8640 wide at 432 tall; the cap is 4 x 432 = 1728, and the image is fitted inside
    assert dynamic_input_size((200, 4000), 432) == (432, 1728)
    assert dynamic_input_size((432, 1728), 432) == (432, 1728)   # exactly 4:1 passes unchanged
    from edgepose.config import ModelConfig

    x, box = letterbox(np.zeros((200, 4000, 3), np.uint8), (432, 1728), ModelConfig())
    assert x.shape == (432, 1728, 3) and box.content_size == (86, 1728)  # 200 * 1728 / 4000 = 86.4
