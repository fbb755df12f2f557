"""medseg as a DICOM AI node: images in from a PACS, DICOM SEG back to it.

* :mod:`~medseg.pacs.dicomweb` — ``medseg predict --dicomweb``: QIDO-RS finds a study's image
  series, WADO-RS retrieves them, the batch job segments them, STOW-RS stores the SEGs
  (``dicomweb-client``; basic auth or a bearer token, never printed).
* :mod:`~medseg.pacs.listener` — ``medseg listen``: a DIMSE Storage SCP (``pynetdicom``)
  that groups received instances by series, runs a series once it is stable (segmenting it
  ahead of time while it waits) and C-STOREs the SEG to a destination AE.
* :mod:`~medseg.pacs.jobs` — the listener's on-disk state: received instances, jobs, the
  record of answered series; survives SIGKILL.
* :mod:`~medseg.pacs.delivery` — C-STORE and STOW-RS with retry and back-off.
* :mod:`~medseg.pacs.segment` — the one call into the batch job (:func:`run_batch`).
* :mod:`~medseg.pacs.dicomweb_cli` — the ``medseg predict`` flags for a DICOMweb source.
* :mod:`~medseg.pacs.report` — the listener's ``report.json`` / ``report.csv``.
* :mod:`~medseg.pacs.orthanc` — a local Orthanc (DICOMweb plugin, optional OHIF) as a child
  process, for tests, the benchmark and trying medseg out; :mod:`~medseg.pacs.ohif` — the
  OHIF viewer prepared to be served by Orthanc next to ``/dicom-web``.

Logs and reports name series and instances by a hash of their UID (as the batch report
does) and never carry patient or study attributes. ``pacs`` sits above ``engine``; nothing
below imports it.
"""
