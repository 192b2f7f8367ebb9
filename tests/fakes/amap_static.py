"""The fake AMap static map (``GET /v3/staticmap``): a real PNG of the requested ``size``.

AMap answers a good request with the picture itself (``image/png``) and a refused one with its
usual JSON error (``status`` "0", ``infocode``; served by ``FakeAmap.set_error``). Documented at
lbs.amap.com/api/webservice/guide/api/staticmaps: ``size`` is ``width*height`` (at most
1024*1024, default 400*400), ``zoom`` 1-17, ``markers``/``paths`` groups separated by ``|``.
Use: ``fake_amap.set_response(STATIC_MAP_PATH, static_map_answer)``.
"""

from __future__ import annotations

import io

from PIL import Image

STATIC_MAP_PATH = "/v3/staticmap"
BACKGROUND = (242, 239, 233)


def static_map_answer(params: dict[str, str]) -> bytes | dict[str, str]:
    """The PNG for ``params`` (an AMap parameter error for a bad ``size`` or ``zoom``)."""
    try:
        width, height = (int(side) for side in params.get("size", "400*400").split("*"))
        zoom = int(params.get("zoom", "10"))
    except ValueError:
        return {"status": "0", "info": "INVALID_PARAMS", "infocode": "20000"}
    if not (0 < width <= 1024 and 0 < height <= 1024 and 1 <= zoom <= 17):
        return {"status": "0", "info": "INVALID_PARAMS", "infocode": "20000"}
    out = io.BytesIO()
    Image.new("RGB", (width, height), BACKGROUND).save(out, format="PNG")
    return out.getvalue()
