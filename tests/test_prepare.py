"""Decoding every kind of image the web serves into upright RGB arrays."""

import numpy as np
import pytest
from PIL import Image

from skipnet.data.prepare import load_image, pack
from skipnet.errors import SkipnetError


def red_ish(px):
    return px[0] > 180 and px[1] < 80 and px[2] < 80


def test_grayscale_becomes_three_equal_channels(tmp_path):
    Image.new("L", (40, 30), 100).save(tmp_path / "g.jpg")
    arr = load_image(tmp_path / "g.jpg", 8)
    assert arr.shape == (8, 8, 3) and arr.dtype == np.uint8
    assert np.abs(arr[..., 0].astype(int) - arr[..., 2]).max() <= 1 and abs(int(arr[4, 4, 0]) - 100) <= 3


def test_cmyk_jpeg_is_converted(tmp_path):
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    assert red_ish(load_image(tmp_path / "c.jpg", 8)[4, 4])


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_transparency_is_composited_on_white(tmp_path, mode):
    img = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    img.paste((0, 0, 255, 255), (0, 0, 8, 16))
    if mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE)
        img.info["transparency"] = img.getpixel((12, 8))
    if mode == "P":
        img.save(tmp_path / "t.png", transparency=img.info["transparency"])
    else:
        img.save(tmp_path / "t.png")
    arr = load_image(tmp_path / "t.png", 16)
    assert tuple(arr[8, 14]) == (255, 255, 255)
    assert arr[8, 2, 2] > 200 and arr[8, 2, 0] < 50


def test_palette_without_transparency(tmp_path):
    Image.new("RGB", (20, 20), (255, 0, 0)).convert("P").save(tmp_path / "p.gif")
    assert red_ish(load_image(tmp_path / "p.gif", 8)[4, 4])


def test_exif_rotation_is_applied(tmp_path):
    img = Image.new("RGB", (64, 32), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 32, 32))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": the left half ends up on top
    img.save(tmp_path / "r.jpg", exif=exif)
    arr = load_image(tmp_path / "r.jpg", 32)
    assert red_ish(arr[4, 28]) and not red_ish(arr[28, 28])


def test_unreadable_image_is_named(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really")
    with pytest.raises(SkipnetError, match=r"unreadable image .*bad\.jpg"):
        load_image(tmp_path / "bad.jpg", 8)


def test_pack_matches_single_image_decoding(tmp_path):
    paths = []
    for i in range(5):
        Image.new("RGB", (50 + i * 10, 40), (i * 50, 10, 200 - i * 30)).save(tmp_path / f"{i}.jpg")
        paths.append(tmp_path / f"{i}.jpg")
    packed = pack(paths, 16, workers=2)
    assert packed.shape == (5, 16, 16, 3)
    for i, p in enumerate(paths):
        assert np.array_equal(packed[i], load_image(p, 16))
