"""The catalogue tests' portal address and a published folder written the way a build writes it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from testkit import RATINGEN_BBOX

from geoportal.core.publish import LayerMetadata, file_record

BASE_URL = "https://geoportal.ratingen.example"


def build_layer(published: Path, dataset_id: str, outputs: list[str], modified: str) -> None:
    """Write small output files and the metadata.json a pipeline build would write for them."""
    folder = published / dataset_id
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for fmt in outputs:
        path = folder / f"{dataset_id}.{fmt}"
        path.write_text(f"{dataset_id} as {fmt}\n" * 50, encoding="utf-8")
        records.append(file_record(path, fmt))
    metadata = LayerMetadata(
        id=dataset_id,
        built_at=modified,
        modified=modified,
        feature_count=1234,
        rejected_count=3,
        bbox_wgs84=RATINGEN_BBOX,
        bbox_native=[344000.0, 5682000.0, 356000.0, 5691000.0],
        crs_native="EPSG:25832",
        source_sha256="0" * 64,
        files=records,
    )
    (folder / "metadata.json").write_text(
        json.dumps(asdict(metadata), indent=2), encoding="utf-8"
    )
