"""The first stage's face: where a video comes from and the frames made of it.

Everything the notebooks use to get frames, in one place: a source (the bundled
``sample`` clip and film ``excerpt``, the generated ``synthetic`` cartoon, a file or a URL) is resolved to a
video, decoded, cropped to 2:1, turned grey and resized to 100x200, and cached as uint8
frames (``load_frames``).  The rest of the package takes frames from here on.

==================  ====================================================================
defined in          names
==================  ====================================================================
``sources``         ``PAPER_VIDEO_URL``, ``SAMPLE_CREDIT``, ``EXCERPT_CREDIT``,
                    ``resolve_source``, ``source_kind``
``download``        ``cache_key``, ``youtube_id``
``synthetic``       ``synthetic_blur_schedule``
``frames``          ``load_frames``, ``to_unit_float``, ``FRAME_HEIGHT``, ``FRAME_WIDTH``,
                    ``crop_box``, ``preprocess_frame``, ``probe_video``, ``cache_path``
``errors``          ``SourceError``
==================  ====================================================================

Importing it loads neither TensorFlow nor a video: sources resolve and decode when asked.
"""

from .download import cache_key, youtube_id
from .errors import SourceError
from .frames import (FRAME_HEIGHT, FRAME_WIDTH, cache_path, crop_box, load_frames,
                     preprocess_frame, probe_video, to_unit_float)
from .sources import EXCERPT_CREDIT, PAPER_VIDEO_URL, SAMPLE_CREDIT, resolve_source, source_kind
from .synthetic import synthetic_blur_schedule

__all__ = [
    "EXCERPT_CREDIT", "FRAME_HEIGHT", "FRAME_WIDTH", "PAPER_VIDEO_URL", "SAMPLE_CREDIT", "SourceError",
    "cache_key", "cache_path", "crop_box", "load_frames", "preprocess_frame", "probe_video",
    "resolve_source", "source_kind", "synthetic_blur_schedule", "to_unit_float",
    "youtube_id",
]
