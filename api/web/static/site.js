// Optional enhancements; every page works without this file.
"use strict";
// Forms marked data-once post once: the button is disabled after the first submit (the
// Idempotency-Key hidden in the form makes a second post harmless anyway).
document.querySelectorAll("form[data-once]").forEach((form) => {
  form.addEventListener("submit", () => {
    setTimeout(() => form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; }), 0);
  });
});
// The probability slider and its number box follow each other.
document.querySelectorAll("input[data-sync]").forEach((slider) => {
  const box = document.getElementById(slider.dataset.sync);
  slider.addEventListener("input", () => { box.value = slider.value; });
  box.addEventListener("input", () => { if (box.value) slider.value = box.value; });
});
// Live preview of the CDF the quantile inputs imply (piecewise linear between the quantiles).
const cdf = document.querySelector("figure.cdf");
if (cdf) {
  const log = cdf.dataset.scale === "log";  // a log-scale question's axis is log10 of its unit
  const t = (v) => (log ? Math.log10(v) : v);
  const lo = parseFloat(cdf.dataset.lower), hi = parseFloat(cdf.dataset.upper);
  const svg = document.getElementById("cdf-preview");
  const inputs = [...document.querySelectorAll("input[data-quantile]")];
  const draw = () => {
    const pts = [[lo, 0]];
    inputs.forEach((i) => { if (i.value !== "") pts.push([parseFloat(i.value), parseFloat(i.dataset.quantile)]); });
    pts.push([hi, 1]);
    const x = (v) => (300 * (t(v) - t(lo)) / (t(hi) - t(lo))).toFixed(1), y = (p) => (115 - 110 * p).toFixed(1);
    const ok = pts.every((p, k) => k === 0 || p[0] > pts[k - 1][0]);
    svg.innerHTML = `<polyline fill="none" stroke="${ok ? "#0a5fb4" : "#b3261e"}" stroke-width="2" points="${pts.map((p) => x(p[0]) + "," + y(p[1])).join(" ")}"/>` +
      (ok ? "" : `<text x="8" y="14" font-size="9" fill="#b3261e">quantile values must increase</text>`);
  };
  cdf.hidden = false;
  inputs.forEach((i) => i.addEventListener("input", draw));
  draw();
}
// Commit-reveal: the salt is made here, shown once and offered as a download; only
// sha256(salt + canonical JSON of the forecast) is posted.
const commitForm = document.querySelector("form[data-commit]");
if (commitForm) {
  commitForm.addEventListener("submit", async (event) => {
    if (document.getElementById("commitment").value) return;
    event.preventDefault();
    const p = parseFloat(document.getElementById("commit-probability").value);
    if (!(p >= 0.001 && p <= 0.999)) { alert("probability must be in [0.001, 0.999]"); return; }
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const salt = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    const text = salt + JSON.stringify({ probability: p });
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    document.getElementById("commitment").value = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    document.getElementById("salt").textContent = "salt: " + salt + " (probability " + p + ")";
    const link = document.getElementById("salt-download");
    link.href = URL.createObjectURL(new Blob([`salt=${salt}\nprobability=${p}\n`], { type: "text/plain" }));
    link.hidden = false;
    link.click();
    if (confirm("Your salt is saved as a download and shown on the page. Commit now?")) commitForm.submit();
  });
}
// A running fit's page reloads itself until the fit is done.
const fitState = document.querySelector("[data-refresh]");
if (fitState) setTimeout(() => location.reload(), 1000 * parseFloat(fitState.dataset.refresh));
