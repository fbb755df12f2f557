// medseg volume viewer: js_on_load of the Medical tab's gr.HTML (see medseg/app/viewer.py).
// Gradio runs this once with `element` (the component's root), `props` (props.value is what
// to show: scan and mask NIfTI URLs, window, colours, crosshair) and `watch`. NiiVue's UMD
// build (window.niivue) is loaded by the component's `head`. Not async: promises chain.
const root = element.querySelector(".medseg-nv");
const canvas = element.querySelector(".medseg-nv-canvas");
const label = element.querySelector(".medseg-nv-label");
const readout = element.querySelector(".medseg-nv-readout");
const buttons = element.querySelectorAll(".medseg-nv-buttons button");

function setState(s) {
  root.dataset.state = s;
}

function hasWebGL2() {
  try {
    return !!document.createElement("canvas").getContext("webgl2");
  } catch (e) {
    return false;
  }
}

function fileUrl(f) {
  // Gradio gives cache URLs relative to the app root ("/gradio_api/file=..."); resolve them
  // against the root so the app also works under a sub-path.
  if (!f || !f.url) return null;
  if (/^https?:/.test(f.url)) return f.url;
  const base = (window.gradio_config && window.gradio_config.root) || window.location.origin;
  return base.replace(/\/$/, "") + "/" + f.url.replace(/^\//, "");
}

if (!hasWebGL2() || !window.niivue) {
  // No WebGL2 (or the script did not load): the server-rendered slice view stays visible.
  setState("no-webgl2");
  label.textContent =
    "This browser cannot show the 3-D viewer (no WebGL2): use the slice view below.";
  canvas.style.display = "none";
  document.body.classList.remove("medseg-webgl2");
} else {
  const NV = window.niivue;
  const nv = new NV.Niivue({
    backColor: [0, 0, 0, 1],
    crosshairColor: [0.15, 0.75, 1.0, 0.9],
    show3Dcrosshair: true,
    isResizeCanvas: true,
    loadingText: "loading…",
    dragAndDropEnabled: false,
    multiplanarShowRender: NV.SHOW_RENDER ? NV.SHOW_RENDER.ALWAYS : 1,
    isColorbar: false,
  });
  document.body.classList.add("medseg-webgl2");
  let shown = { scan: null, mask: null };
  let current = null;
  let twoD = false;
  // every update waits for the canvas to be ready and for the previous update
  let chain = nv.attachToCanvas(canvas).then(() => {
    nv.setRadiologicalConvention(true); // patient right on the screen's left, as in PACS
    setLayout("multi");
    setState("empty");
  });

  const layouts = {
    multi: () => nv.sliceTypeMultiplanar,
    axial: () => nv.sliceTypeAxial,
    coronal: () => nv.sliceTypeCoronal,
    sagittal: () => nv.sliceTypeSagittal,
    render: () => nv.sliceTypeRender,
  };
  function setLayout(name) {
    const st = (layouts[name] || layouts.multi)();
    nv.setSliceType(st);
    buttons.forEach((b) => b.classList.toggle("active", b.dataset.layout === name));
    root.dataset.layout = name;
  }
  buttons.forEach((b) => b.addEventListener("click", () => setLayout(b.dataset.layout)));

  function fmt(v) {
    if (v === undefined || v === null || Number.isNaN(v)) return "–";
    return Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(4);
  }
  nv.onLocationChange = (loc) => {
    if (!loc || !loc.values || !loc.values.length || !current) return;
    const s = loc.values[0];
    const vox = (s.vox || []).map((x) => Math.round(x)).join(", ");
    let text = `voxel ${vox} · ${fmt(s.value)}${current.units ? " " + current.units : ""}`;
    if (loc.values.length > 1 && current.colormap) {
      const k = Math.round(loc.values[1].value);
      const names = current.colormap.labels || [];
      text += ` · ${names[k] !== undefined ? names[k] : "label " + k}`;
    }
    readout.textContent = text;
  };

  function applyWindow(win) {
    if (!win || !nv.volumes.length) return;
    nv.volumes[0].cal_min = win[0];
    nv.volumes[0].cal_max = win[1];
    nv.updateGLVolume();
  }
  function setOpacity(o) {
    if (nv.volumes.length > 1) nv.setOpacity(1, Number(o));
  }
  function moveTo(c) {
    if (!c || !nv.volumes.length) return;
    const pos = nv.scene.crosshairPos;
    pos[c.axis] = Math.min(1, Math.max(0, c.frac));
    nv.scene.crosshairPos = pos;
    nv.drawScene();
    if (nv.createOnLocationChange) nv.createOnLocationChange(c.axis);
  }
  function dropMask() {
    while (nv.volumes.length > 1) nv.removeVolume(nv.volumes[nv.volumes.length - 1]);
    shown.mask = null;
  }

  function apply(v) {
    current = v && v.scan ? v : null;
    const scanUrl = current ? fileUrl(current.scan) : null;
    const maskUrl = current && current.mask ? fileUrl(current.mask) : null;
    if (!scanUrl) {
      // no scan (a new upload is on its way, or it was cleared): show nothing stale
      dropMask();
      while (nv.volumes.length) nv.removeVolume(nv.volumes[0]);
      shown = { scan: null, mask: null };
      label.textContent = "No scan loaded: upload one or pick an example.";
      readout.innerHTML = "&nbsp;";
      setState("empty");
      nv.drawScene();
      return Promise.resolve();
    }
    label.textContent = current.label + (current.note ? " — " + current.note : "");
    let p = Promise.resolve();
    if (scanUrl !== shown.scan) {
      setState("loading");
      dropMask();
      shown = { scan: null, mask: null };
      p = p
        .then(() =>
          nv.loadVolumes([{ url: scanUrl, name: "scan.nii.gz", colormap: "gray" }])
        )
        .then(() => {
          shown.scan = scanUrl;
          twoD = !!current.two_d;
          buttons.forEach((b) => {
            b.hidden = twoD && b.dataset.layout !== "axial";
          });
          setLayout(twoD ? "axial" : root.dataset.layout || "multi");
        });
    } else if (maskUrl !== shown.mask) {
      dropMask();
    }
    if (maskUrl && maskUrl !== shown.mask) {
      p = p
        .then(() => nv.addVolumeFromUrl({ url: maskUrl, name: "mask.nii.gz", colormap: "red" }))
        .then(() => {
          const m = nv.volumes[nv.volumes.length - 1];
          if (current.colormap) m.setColormapLabel(current.colormap);
          shown.mask = maskUrl;
        });
    }
    return p.then(() => {
      applyWindow(current.window);
      setOpacity(current.opacity);
      moveTo(current.crosshair);
      nv.updateGLVolume();
      setState(shown.mask ? "mask" : "scan");
    });
  }

  function update(v) {
    chain = chain
      .then(() => apply(v))
      .catch((e) => {
        console.error("medseg viewer:", e);
        setState("error");
        label.textContent = "The viewer could not load this scan; the slice view below shows it.";
      });
    return chain;
  }

  // the API other events' js= callbacks use (opacity slider, window, slice slider)
  window.medsegViewer = {
    nv,
    setOpacity,
    setWindow: (c, w) => applyWindow([Number(c) - Number(w) / 2, Number(c) + Number(w) / 2]),
    moveTo,
    setLayout,
    update,
  };
  update(props.value);
  watch("value", () => update(props.value));
}
