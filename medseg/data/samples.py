"""Real sample data that installs offline, found where its package puts it.

Nothing large is committed to medseg: the sample scans, photos and videos come from packages
that install by name (``scripts/setup.sh`` installs them), and this module is the one place
that knows where they lie. Examples, tests, docs and training recipes ask it by name.

=================  =========================================  ===============================
name               what                                       package (licence)
=================  =========================================  ===============================
``t1_head``        real T1 MRI head with skull (ITK Kmeans)   insighttoolkit5-examples (Apache-2.0)
``t1_brain``       the same head, skull-stripped (mask > 0)   insighttoolkit5-examples (Apache-2.0)
``brain_slice``    a T1 brain slice, PNG                      insighttoolkit5-examples (Apache-2.0)
``ch2``            Colin27 T1 head, 1 mm (held out)           mricron-data (see its copyright)
``ch2bet``         Colin27 brain-extracted (held out)         mricron-data
``leuvenA``/``B``  real street photos                         opencv-doc (BSD)
``vtest``          real 768×576 pedestrian video              opencv-doc (BSD)
``ct_small``       128×128 CT slice, DICOM                    pydicom (MIT)
``mr_small``       MR slice, DICOM                            pydicom (MIT)
``ct_series``      a 5-slice CT series folder (CT5N)          pydicom (MIT)
=================  =========================================  ===============================

Colin27 (``ch2``, ``ch2bet``) is held out: it evaluates the brain-extraction model and may be
used as a plain input, never for training or model selection.
"""

from __future__ import annotations

from pathlib import Path

ITK_DATA = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
MRICRON = Path("/usr/share/mricron/templates")

#: name -> (location, Debian package or "pydicom"); a location starting with "pydicom:" is a
#: pydicom test file (or folder) name.
SAMPLES: dict[str, tuple[str, str]] = {
    "t1_head": (str(ITK_DATA / "KmeansTest_T1UCharRaw.nii.gz"), "insighttoolkit5-examples"),
    "t1_brain": (str(ITK_DATA / "KmeansTest_T1RawSkullStrip.nii.gz"), "insighttoolkit5-examples"),
    "brain_slice": (str(ITK_DATA / "BrainT1Slice.png"), "insighttoolkit5-examples"),
    "ch2": (str(MRICRON / "ch2.nii.gz"), "mricron-data"),
    "ch2bet": (str(MRICRON / "ch2bet.nii.gz"), "mricron-data"),
    "leuvenA": (str(OPENCV_DATA / "leuvenA.jpg"), "opencv-doc"),
    "leuvenB": (str(OPENCV_DATA / "leuvenB.jpg"), "opencv-doc"),
    "vtest": (str(OPENCV_DATA / "vtest.avi"), "opencv-doc"),
    "ct_small": ("pydicom:CT_small.dcm", "pydicom"),
    "mr_small": ("pydicom:MR_small.dcm", "pydicom"),
    "ct_series": ("pydicom:dicomdirtests/98892001/CT5N", "pydicom"),
}


def sample_path(name: str) -> Path:
    """Where sample ``name`` lies (see the table in the module docstring).

    Raises:
        KeyError: an unknown name (the message lists the known ones).
        FileNotFoundError: the package that ships it is not installed; the message names it.
    """
    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")
    where, package = SAMPLES[name]
    if where.startswith("pydicom:"):
        import pydicom.data

        rel = where.split(":", 1)[1]
        p = Path(pydicom.data.__file__).parent / "test_files" / rel
        if not p.exists():
            try:
                p = Path(pydicom.data.get_testdata_file(rel) or "")
            except Exception:  # pydicom-data missing: reported below
                p = Path("")
    else:
        p = Path(where)
    if not str(p) or not p.exists():
        raise FileNotFoundError(
            f"sample {name!r} is missing ({where}); install {package} "
            "(scripts/setup.sh installs every sample package)"
        )
    return p


def available() -> list[str]:
    """Names of the samples installed on this machine."""
    out = []
    for name in SAMPLES:
        try:
            sample_path(name)
        except FileNotFoundError:
            continue
        out.append(name)
    return out


__all__ = ["ITK_DATA", "MRICRON", "OPENCV_DATA", "SAMPLES", "available", "sample_path"]
