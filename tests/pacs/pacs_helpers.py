"""Helpers for the PACS tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

#: Identifying values planted in every test series; none may appear in a log or report.
PHI = {
    "PatientName": "Zqxpacsfamily^Zqxpacsgiven",
    "PatientID": "PIDZQXPACS77",
    "PatientBirthDate": "19240613",
    "AccessionNumber": "ACCZQXPACS5",
    "InstitutionName": "Zqxpacs Institution",
    "ReferringPhysicianName": "Zqxpacsreferrer^Dee",
    "OtherPatientIDs": "OPIDZQXPACS3",
}
PHI_NEEDLES = [
    "Zqxpacsfamily",
    "Zqxpacsgiven",
    "PIDZQXPACS77",
    "19240613",
    "1924-06-13",
    "ACCZQXPACS5",
    "Zqxpacs Institution",
    "Zqxpacsreferrer",
    "OPIDZQXPACS3",
]


def require_orthanc():
    from medseg.pacs.orthanc import find_orthanc, find_plugin

    if find_orthanc() is None:
        pytest.skip("Debian 'orthanc' is not installed (scripts/setup.sh installs it)")
    if find_plugin("libOrthancDicomWeb") is None:
        pytest.skip("Debian 'orthanc-dicomweb' is not installed (scripts/setup.sh installs it)")


def phi_found(text: str) -> list[str]:
    low = text.lower()
    return [n for n in PHI_NEEDLES if n.lower() in low]


def sha256_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


def crop_volume(vol, x: slice, y: slice, z: slice):
    """A sub-volume with its affine moved to the crop's first voxel (geometry kept)."""
    from dataclasses import replace

    arr = np.ascontiguousarray(vol.array[x, y, z])
    aff = vol.affine.copy()
    aff[:3, 3] = (
        vol.affine[:3, :3] @ np.array([x.start or 0, y.start or 0, z.start or 0]) + aff[:3, 3]
    )
    return replace(vol, array=arr, affine=aff, meta=dict(vol.meta), source_files=[])


def write_series(
    vol, folder: Path, *, description: str, study_uid: str | None = None, upright: bool = False
) -> Path:
    """``write_dicom_series`` plus the planted identifiers of :data:`PHI`."""
    import pydicom

    from medseg.io import write_dicom_series

    files = write_dicom_series(
        vol,
        folder,
        series_description=description,
        patient_name=PHI["PatientName"],
        patient_id=PHI["PatientID"],
        study_instance_uid=study_uid,
        body_part="head",
        upright=upright,
    )
    for f in files:
        ds = pydicom.dcmread(f)
        for k, v in PHI.items():
            setattr(ds, k, v)
        ds.PatientIdentityRemoved = "NO"
        del ds.DeidentificationMethod
        ds.save_as(f)
    return folder


def medseg_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "medseg.cli", *args]


def medseg_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "2")
    env.update(extra)
    return env


class ListenerProc:
    """``medseg listen`` running as a subprocess (stdout/stderr to ``log``)."""

    def __init__(self, state_dir: Path, port: int, args: list[str]):
        self.state_dir, self.port, self.args = Path(state_dir), port, args
        self.log = self.state_dir.parent / f"{self.state_dir.name}.out"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> ListenerProc:
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.log, "ab")
        self.proc = subprocess.Popen(
            medseg_cmd(
                "listen", "--port", str(self.port), "--state-dir", str(self.state_dir), *self.args
            ),
            stdout=self._f,
            stderr=subprocess.STDOUT,
            env=medseg_env(),
            start_new_session=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"medseg listen exited: {self.output()[-2000:]}")
            if echo("127.0.0.1", self.port):
                return self
            time.sleep(0.25)
        raise TimeoutError("medseg listen did not answer C-ECHO")

    def kill(self) -> None:
        """SIGKILL: no clean-up at all."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._f.close()

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait()
        self._f.close()
        return rc

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""


def echo(host: str, port: int, aet: str = "MEDSEG") -> bool:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    ae.connection_timeout = 2
    assoc = ae.associate(host, port, ae_title=aet)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


def wait_for(cond, timeout: float, what: str, interval: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


# ----------------------------------------------------------------------------- SEG checks
def study_uid_of(folder: Path) -> str:
    import pydicom

    f = next(iter(sorted(Path(folder).glob("*.dcm"))))
    return str(pydicom.dcmread(f, stop_before_pixels=True).StudyInstanceUID)


def series_uid_of(folder: Path) -> str:
    import pydicom

    f = next(iter(sorted(Path(folder).glob("*.dcm"))))
    return str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID)


def fetch_segs(dicomweb_url: str, study_uid: str) -> list:
    """Every SEG instance of a study, retrieved with WADO-RS (QIDO-RS to find them)."""
    from dicomweb_client import DICOMwebClient
    from pydicom import Dataset

    client = DICOMwebClient(dicomweb_url)
    found = client.search_for_series(
        study_instance_uid=study_uid, search_filters={"Modality": "SEG"}
    )
    out = []
    for item in found:
        s = Dataset.from_json(item)
        if s.get("Modality") != "SEG":
            continue
        out.extend(client.retrieve_series(study_uid, s.SeriesInstanceUID))
    return out


def seg_source_series(seg) -> str:
    return str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID)


def check_seg(seg, source_folder: Path, *, mask_nifti: Path | None = None) -> np.ndarray:
    """Check a retrieved SEG against its source files; returns its frames ``(n, rows, cols)``.

    Independent of medseg's own reader: every SEG frame is placed with its own plane
    position, the source orientation and pixel spacing, mapped through the NIfTI mask's
    affine (nibabel) and compared pixel by pixel.
    """
    import highdicom as hd
    import pydicom

    src = [pydicom.dcmread(f) for f in sorted(Path(source_folder).glob("*.dcm"))]
    by_uid = {str(s.SOPInstanceUID): s for s in src}
    s0 = src[0]
    # Study, patient, new series, frame of reference.
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert seg.Modality == "SEG"
    assert seg.StudyInstanceUID == s0.StudyInstanceUID
    assert seg.SeriesInstanceUID != s0.SeriesInstanceUID
    assert seg.FrameOfReferenceUID == s0.FrameOfReferenceUID
    for k in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyDate"):
        assert str(seg.get(k, "")) == str(s0.get(k, "")), k
    assert "InstitutionName" not in seg or seg.InstitutionName != s0.get("InstitutionName")
    # References: the series and every instance.
    ref = seg.ReferencedSeriesSequence
    assert len(ref) == 1 and ref[0].SeriesInstanceUID == s0.SeriesInstanceUID
    assert {str(i.ReferencedSOPInstanceUID) for i in ref[0].ReferencedInstanceSequence} == set(
        by_uid
    )
    # Segment, algorithm, encoding.
    seg_item = seg.SegmentSequence[0]
    assert seg_item.SegmentLabel == "brain"
    algo = seg_item.SegmentationAlgorithmIdentificationSequence[0]
    import medseg

    assert algo.AlgorithmName.startswith("medseg") and algo.AlgorithmVersion == medseg.__version__
    assert seg_item.SegmentAlgorithmType == "AUTOMATIC"
    assert seg.SegmentationType == "FRACTIONAL" and int(seg.MaximumFractionalValue) == 255
    assert int(seg.BitsAllocated) == 8
    assert (int(seg.Rows), int(seg.Columns)) == (int(s0.Rows), int(s0.Columns))
    shared = seg.SharedFunctionalGroupsSequence[0]
    iop = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    np.testing.assert_allclose(iop, [float(v) for v in s0.ImageOrientationPatient], atol=1e-6)
    spacing = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]
    np.testing.assert_allclose(spacing, [float(v) for v in s0.PixelSpacing], atol=1e-6)
    frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), int(seg.Rows), int(seg.Columns))
    assert set(np.unique(frames).tolist()) <= {0, 255}
    assert frames.max() == 255, "the SEG is empty"
    covered = []
    for item in seg.PerFrameFunctionalGroupsSequence:
        uid = str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        covered.append(uid)
        pos = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(
            pos, [float(v) for v in by_uid[uid].ImagePositionPatient], atol=1e-4
        )
    assert sorted(covered) == sorted(by_uid), "a frame per source instance"
    # highdicom reads the retrieved object as a file, as a user would.
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        seg.save_as(Path(d) / "seg.dcm", enforce_file_format=True)
        hseg = hd.seg.segread(Path(d) / "seg.dcm")
        px = hseg.get_pixels_by_source_instance(
            source_sop_instance_uids=covered, segment_numbers=[1]
        )
    assert px.shape[:3] == frames.shape
    np.testing.assert_array_equal(px[..., 0] > 0, frames > 0)
    if mask_nifti is not None:
        import nibabel as nib

        img = nib.load(str(mask_nifti))
        mask = np.asarray(img.dataobj) > 0
        inv = np.linalg.inv(img.affine)
        rows, cols = frames.shape[1:]
        a, b = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        r, c = np.array(iop[:3]), np.array(iop[3:])
        for f, uid in enumerate(covered):
            p = np.array([float(v) for v in by_uid[uid].ImagePositionPatient])
            lps = p + (b[..., None] * spacing[1]) * r + (a[..., None] * spacing[0]) * c
            ras = lps * np.array([-1.0, -1.0, 1.0])
            vox = ras @ inv[:3, :3].T + inv[:3, 3]
            idx = np.rint(vox).astype(int)
            assert np.abs(vox - idx).max() < 1e-3, "SEG pixels off the mask's voxel grid"
            expected = mask[idx[..., 0], idx[..., 1], idx[..., 2]]
            np.testing.assert_array_equal(frames[f] > 0, expected, err_msg=f"frame {f}")
    return frames
