"""Words drawn as small uint8 images, so galleries, hover panels and previews show text like thumbnails."""
from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TILE_HEIGHT = 32
TILE_WIDTH = 96
FOREGROUND = (236, 236, 236)
BACKGROUND = (44, 48, 56)
_MIN_FONT = 7


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1: a scalable font
    except TypeError:  # older Pillow: the fixed bitmap font is all there is
        return ImageFont.load_default()


def _fit(word: str, height: int, width: int) -> tuple[str, ImageFont.ImageFont]:
    """The largest font (up to ~55% of the height) that fits the word; very long words are cut with '…'."""
    room = width - 6
    size = max(_MIN_FONT, int(height * 0.55))
    while size > _MIN_FONT and _font(size).getlength(word) > room:
        size -= 1
    font = _font(size)
    if font.getlength(word) <= room:
        return word, font
    while len(word) > 1 and font.getlength(word + "…") > room:
        word = word[:-1]
    return word + "…", font


def word_tile(word: str, height: int = TILE_HEIGHT, width: int = TILE_WIDTH,
              foreground: tuple[int, int, int] = FOREGROUND,
              background: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    """The word centred on a plain background: uint8 (height, width, 3)."""
    image = Image.new("RGB", (width, height), background)
    text, font = _fit(str(word), height, width)
    ImageDraw.Draw(image).text((width / 2, height / 2), text, fill=foreground, font=font, anchor="mm")
    return np.asarray(image, dtype=np.uint8)


class WordTiles(Sequence):
    """A lazy list of word tiles: tiles[i] draws word i on first use (a 50,000-word vocabulary
    would otherwise hold ~450 MB of pixels that nobody looks at)."""

    def __init__(self, words: Sequence[str], height: int = TILE_HEIGHT, width: int = TILE_WIDTH):
        self.words = list(words)
        self.height, self.width = height, width
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.words)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.words), self.height, self.width, 3)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self.words)
        tile = self._cache.get(i)
        if tile is None:
            if len(self._cache) > 4096:  # bounded: a long browse does not grow without end
                self._cache.clear()
            tile = self._cache[i] = word_tile(self.words[i], self.height, self.width)
        return tile
