"""Distance tool: several origins to one destination, by road (driving/walking) or straight."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from bailian_geo_agent.prompts.catalogue import text as message_text
from bailian_geo_agent.tools.capabilities import capability
from bailian_geo_agent.tools.common import (
    CRS_DESCRIPTION,
    GeoTool,
    OptionalText,
    ShortText,
    coordinate_label,
    format_distance,
    format_duration,
    optional,
    resolve_point,
)
from bailian_geo_agent.tools.coords import CRS, Coordinate
from bailian_geo_agent.tools.errors import NotFoundError, OutOfCoverageError
from bailian_geo_agent.tools.outputs import DistanceData, distance_item, named_point, with_data
from bailian_geo_agent.tools.providers.extras import Distance, DistanceMatrix
from pydantic import BaseModel, Field

MODE_NAMES = {"driving": "驾车", "walking": "步行", "straight": "直线"}


class DistanceInput(BaseModel):
    """Arguments of ``measure_distance`` (places by name or ``"lng,lat"``)."""

    origins: list[ShortText] = Field(min_length=1, max_length=10)
    destination: ShortText
    mode: Literal["driving", "walking", "straight"] = "driving"
    city: OptionalText = optional("City hint.")
    crs: CRS = Field(default="gcj02", description=CRS_DESCRIPTION)


def format_matrix(matrix: DistanceMatrix, labels: list[str], dest: str, source: str) -> str:
    """One line per origin, in the order given."""
    head = (
        f"各起点到{dest}（{coordinate_label(matrix.destination)}）的{MODE_NAMES[matrix.mode]}"
        f"距离（{source}）："
    )
    lines = [head]
    for i, label in enumerate(labels):
        found = next((r for r in matrix.results if r.origin_index == i), None)
        if found is None or found.distance_m is None:
            why = found.note if found is not None and found.note else "无结果"
            lines.append(f"{i + 1}. {label}：{why}")
            continue
        text = f"{i + 1}. {label}：{format_distance(found.distance_m)}"
        if found.duration_s is not None:
            text += f"，约{format_duration(found.duration_s)}"
        lines.append(text)
    return "\n".join(lines)


class DistanceTool(GeoTool):
    """Distances from several origins to one destination (``measure_distance``)."""

    name: str = "measure_distance"
    description: str = (
        "Road distance and time (or straight line) from up to 10 origins to one destination "
        "(names or 'lng,lat'), e.g. to find the nearest. "
        "例：origins=['北京南站','北京西站'], destination='故宫'"
    )
    args_schema: type[BaseModel] = DistanceInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    output_model: ClassVar[type[BaseModel]] = DistanceData

    async def _execute(self, args: DistanceInput) -> Any:
        measure = capability(self.geo, "distance", "geo_capability_distance")
        dest, dest_label = await resolve_point(
            self.geo, place=args.destination, lng=None, lat=None, crs=args.crs, city=args.city
        )
        points: list[Coordinate] = []
        labels: list[str] = []
        missing: dict[int, str] = {}
        for origin in args.origins:
            try:
                point, label = await resolve_point(
                    self.geo, place=origin, lng=None, lat=None, crs=args.crs, city=args.city
                )
            except (NotFoundError, OutOfCoverageError) as exc:
                missing[len(labels)] = str(exc)
                labels.append(origin)
                continue
            points.append(point)
            labels.append(label)
        if not points:
            separator = message_text("geo_list_separator")
            raise NotFoundError(message_text("geo_no_origin_located",
                                             problems=separator.join(missing.values())))
        matrix = await measure(points, dest, args.mode)
        # Map the provider's indexes (over located origins) back to the caller's order.
        located = [i for i in range(len(labels)) if i not in missing]
        for result in matrix.results:
            result.origin_index = located[result.origin_index]
        matrix.results += [Distance(i, None, None, note) for i, note in missing.items()]
        source = matrix.source or self.geo.name
        text = format_matrix(matrix, labels, dest_label, source)
        where = dict(zip(located, points, strict=True))
        found: dict[int, Distance] = {}
        for result in matrix.results:  # the first of an origin, as the text shows
            found.setdefault(result.origin_index, result)
        data = DistanceData(
            mode=matrix.mode, destination=named_point(matrix.destination, dest_label),
            results=[distance_item(label, where.get(i), found.get(i))
                     for i, label in enumerate(labels)], source=source)
        return text, with_data(None, data)
