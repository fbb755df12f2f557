"""Search outputs for the identifiers planted by ``make_corpus.write_phi_series``.

DICOM SEG rule (PS3.3 A.51, Segmentation IOD): a SEG is a new series *in the same study of
the same patient*, so it must carry the source's Patient Module and General Study Module.
Of the planted attributes, those are the Type 2 attributes listed in :data:`SEG_ALLOWED`;
each may appear only as the value of its own attribute. Everything else planted
(institution, operators, physicians other than the referring one, station, device serial,
other IDs, address, series/acquisition/content dates) describes the source acquisition,
not the SEG, and must not be copied.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from corpus import generator

_GEN = generator()
MARKERS: dict[str, str] = _GEN.PHI_MARKERS
NEEDLES: dict[str, list[str]] = _GEN.phi_needles()
write_phi_series = _GEN.write_phi_series
write_phi_head_series = _GEN.write_phi_head_series

#: Patient Module (C.7.1.1) and General Study Module (C.7.2.1) attributes a SEG must copy.
SEG_ALLOWED = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "StudyDate",
        "ReferringPhysicianName",
        "AccessionNumber",
        "StudyID",
    }
)


def find_in_text(text: str) -> list[tuple[str, str]]:
    """``(keyword, needle)`` for every planted identifier found in ``text``."""
    low = text.lower()
    return [(kw, n) for kw, ns in NEEDLES.items() for n in ns if n.lower() in low]


def find_in_bytes(data: bytes) -> list[tuple[str, str]]:
    hits = find_in_text(data.decode("latin-1"))
    if data[:2] == b"\x1f\x8b":  # gzip (NIfTI .nii.gz): search the content too
        try:
            hits += find_in_text(gzip.decompress(data).decode("latin-1"))
        except (OSError, EOFError, zlib.error):
            # a corrupt .gz (the corpus uploads some to the same server): raw bytes were searched
            pass
    return sorted(set(hits))


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def scan_tree(root: Path, skip_sha256: set[str] = frozenset()) -> list[tuple[str, str, str]]:
    """``(path, keyword, needle)`` for leaks in file names or contents under ``root``.

    Files whose SHA-256 is in ``skip_sha256`` (copies of the inputs themselves: uploads,
    extracted zips) are not searched; DICOM SEG files are checked with :func:`seg_leaks`.
    """
    leaks = []
    for p in sorted(Path(root).rglob("*")):
        rel = str(p.relative_to(root))
        leaks += [(rel, kw, n) for kw, n in find_in_text(p.name)]
        if not p.is_file() or sha256(p) in skip_sha256:
            continue
        if is_dicom_seg(p):
            leaks += [(rel, kw, n) for kw, n in seg_leaks(p)]
        else:
            leaks += [(rel, kw, n) for kw, n in find_in_bytes(p.read_bytes())]
    return leaks


def is_dicom_seg(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    if head[128:132] != b"DICM":
        return False
    import pydicom

    return pydicom.dcmread(path, stop_before_pixels=True).get("Modality") == "SEG"


def seg_leaks(path: Path) -> list[tuple[str, str]]:
    """Planted identifiers in a DICOM SEG beyond what the standard requires (see module doc)."""
    import pydicom

    ds = pydicom.dcmread(path)
    leaks = []
    for elem in ds.iterall():  # every element, nested sequences included
        if elem.VR in ("OB", "OW", "UN", "SQ"):
            continue
        text = str(elem.value)
        for kw, needle in find_in_text(text):
            if not (elem.keyword == kw and kw in SEG_ALLOWED):
                leaks.append((f"{elem.keyword or elem.tag}", needle))
    # Anything outside the parsed elements (e.g. pixel data, private blobs): raw search for
    # the identifiers that are never allowed.
    for kw, needle in find_in_bytes(Path(path).read_bytes()):
        if kw not in SEG_ALLOWED:
            leaks.append((f"raw bytes ({kw})", needle))
    return sorted(set(leaks))
