"""Serve the OHIF viewer (``@ohif/app``, MIT) from Orthanc, next to its DICOMweb API.

OHIF ships prebuilt in the npm package ``@ohif/app`` (``dist/``); ``scripts/setup.sh`` fetches
the tested version once with ``npm pack`` into ``.cache/ohif/<version>/`` (git-ignored). This
module turns that ``dist`` into a site Orthanc's ServeFolders plugin serves under ``/ohif``
(:func:`medseg.pacs.orthanc.orthanc_config` with ``ohif_dir=``), on the same origin as
``/dicom-web``, so the browser needs no CORS and no proxy:

* the build expects to live at ``/``: ``window.PUBLIC_URL``, the ``src="/..."`` and
  ``href="/..."`` of ``index.html``, webpack's public path (``__webpack_require__.p = "/"``)
  in the bundles and ``url(/`` in the CSS are rewritten to ``/ohif/``;
* ServeFolders has no fallback to ``index.html`` for client-side routes, so the viewer route
  gets an extension-less copy of it named ``viewer`` (served as HTML: see the
  ``Extensions`` map in the Orthanc configuration). ServeFolders takes the MIME type from
  the last dot of the whole file path, hence no dot may appear in the site's folder path;
* ``app-config.js`` declares one DICOMweb data source at the same origin.

Files that need no change are hard-linked (copied across file systems), so preparing a site
takes about a second and no extra space.

Command line::

    python -m medseg.pacs.ohif --out /tmp/ohif_site    # then: --ohif /tmp/ohif_site for Orthanc
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

OHIF_VERSION = "3.13.2"
BASE = "/ohif"

APP_CONFIG = """/** medseg: OHIF served by Orthanc at {base}, DICOMweb at {dicomweb} (same origin). */
window.config = {{
  routerBasename: '{base}',
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  disableConfirmationPrompts: true,
  investigationalUseDialog: {{ option: 'never' }},
  defaultDataSourceName: 'orthanc',
  dataSources: [
    {{
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'orthanc',
      configuration: {{
        friendlyName: 'Orthanc (medseg)',
        name: 'orthanc',
        wadoUriRoot: '{wado_uri}',
        qidoRoot: '{dicomweb}',
        wadoRoot: '{dicomweb}',
        qidoSupportsIncludeField: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: {{ enabled: true, relativeResolution: 'studies' }},
        omitQuotationForMultipartRequest: true,
      }},
    }},
  ],
}};
"""


def default_cache() -> Path:
    """``<repository>/.cache/ohif`` (where ``scripts/setup.sh`` puts the npm package)."""
    return Path(__file__).resolve().parents[2] / ".cache" / "ohif"


def find_dist(version: str = OHIF_VERSION) -> Path | None:
    """The ``dist`` folder of ``@ohif/app`` ``version``: ``$MEDSEG_OHIF_DIST`` or the cache."""
    env = os.environ.get("MEDSEG_OHIF_DIST")
    for cand in ([Path(env)] if env else []) + [default_cache() / version / "package" / "dist"]:
        if (cand / "index.html").is_file() and (cand / "app-config.js").is_file():
            return cand
    return None


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _patch_text(name: str, text: str, base: str) -> str | None:
    """The file rewritten for ``base``, or None when it needs no change."""
    b = base.rstrip("/") + "/"
    if name == "index.html":
        out = text.replace('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{b}"')
        out = out.replace('src="/', f'src="{b}').replace('href="/', f'href="{b}')
        return out
    if name.endswith(".js") and '__webpack_require__.p = "/"' in text:
        return text.replace('__webpack_require__.p = "/"', f'__webpack_require__.p = "{b}"')
    if name.endswith(".css") and "url(/" in text:
        return text.replace("url(/", f"url({b}")
    return None


def prepare_site(
    dist: str | os.PathLike,
    out: str | os.PathLike,
    *,
    base: str = BASE,
    dicomweb: str = "/dicom-web",
    wado_uri: str = "/wado",
) -> Path:
    """Write an OHIF site for Orthanc's ServeFolders into ``out`` (see module docstring).

    Args:
        dist: the ``dist`` folder of ``@ohif/app`` (:func:`find_dist`).
        out: new or empty folder; its absolute path must contain no dot.
        base: URL path the site is served at (the ServeFolders key).
        dicomweb, wado_uri: DICOMweb and WADO-URI roots on the same origin.

    Returns:
        ``out``.
    """
    src = Path(dist)
    dest = Path(out).resolve()
    if "." in str(dest):
        raise ValueError(
            f"{dest}: Orthanc's ServeFolders takes the MIME type from the last dot of the "
            "whole path, so the OHIF site must live in a folder path without dots"
        )
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty: give a new folder")
    if not (src / "index.html").is_file():
        raise FileNotFoundError(f"{src} is not an OHIF dist folder (no index.html)")
    for f in sorted(src.rglob("*")):
        rel = f.relative_to(src)
        target = dest / rel
        if f.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.name == "app-config.js" and len(rel.parts) == 1:
            continue
        patched = None
        if rel.suffix in (".html", ".js", ".css") and len(rel.parts) == 1:
            patched = _patch_text(rel.name, f.read_text(encoding="utf-8"), base)
        if patched is None:
            _link_or_copy(f, target)
        else:
            target.write_text(patched, encoding="utf-8")
    (dest / "app-config.js").write_text(
        APP_CONFIG.format(base=base.rstrip("/"), dicomweb=dicomweb, wado_uri=wado_uri)
    )
    index = (dest / "index.html").read_text(encoding="utf-8")
    (dest / "viewer").write_text(index, encoding="utf-8")  # the /viewer route, served as HTML
    return dest


def viewer_url(origin: str, study_uid: str, series_uid: str | None = None, base: str = BASE) -> str:
    """OHIF's viewer on a study; ``series_uid`` (e.g. the SEG's) is opened first."""
    from urllib.parse import urlencode

    q = {"StudyInstanceUIDs": study_uid}
    if series_uid:
        q["initialSeriesInstanceUID"] = series_uid
    return f"{origin.rstrip('/')}{base.rstrip('/')}/viewer?{urlencode(q)}"


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m medseg.pacs.ohif",
        description="Prepare the OHIF viewer to be served by Orthanc at /ohif.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", required=True, help="new folder (no dot in its path)")
    p.add_argument("--dist", default=None, help="@ohif/app dist (default: the setup's cache)")
    args = p.parse_args(argv)
    dist = Path(args.dist) if args.dist else find_dist()
    if dist is None:
        p.error(f"no @ohif/app {OHIF_VERSION} dist found: run scripts/setup.sh or pass --dist")
    out = prepare_site(dist, args.out)
    print(json.dumps({"site": str(out), "served_at": BASE, "ohif": OHIF_VERSION}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
