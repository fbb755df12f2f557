"""medseg as a DICOM AI node: images in from a PACS, DICOM SEG back to it.

* :mod:`~medseg.pacs.dicomweb` — ``medseg predict --dicomweb``: QIDO-RS finds a study's image
  series, WADO-RS retrieves them, the batch job segments them, STOW-RS stores the SEGs
  (``dicomweb-client``; basic auth or a bearer token, never printed).
* :mod:`~medseg.pacs.listener` — ``medseg listen``: a DIMSE Storage SCP (``pynetdicom``)
  that groups received instances by series, runs a series once it is stable and C-STOREs the
  SEG to a destination AE.
* :mod:`~medseg.pacs.jobs` — the listener's on-disk state: received instances, jobs, the
  record of answered series; survives SIGKILL.
* :mod:`~medseg.pacs.delivery` — C-STORE and STOW-RS with retry and back-off.
* :mod:`~medseg.pacs.segment` — the one call into the batch job (:func:`run_batch`).

Logs and reports name series and instances by a hash of their UID (as the batch report
does) and never carry patient or study attributes. ``pacs`` sits above ``engine``; nothing
below imports it.
"""
