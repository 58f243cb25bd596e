// Sentinelle's one script: small, ours, loaded from our own origin (the Content-Security-Policy
// allows nothing else). Pages work without it; it adds live updates and a few conveniences.
"use strict";

// Live updates: an element with data-live="URL" listens to that server-sent event stream.
// "row" events carry HTML rendered (and escaped) by the server, inserted at the top of the
// element (or of data-live-target); "replace" events replace its content; "count" events
// update the element named by data-live-count.
function startLive(element) {
  const target = document.getElementById(element.dataset.liveTarget || "") || element;
  const status = document.getElementById(element.dataset.liveStatus || "");
  const counter = document.getElementById(element.dataset.liveCount || "");
  const source = new EventSource(element.dataset.live);
  let added = 0;
  source.addEventListener("open", () => { if (status) status.textContent = status.dataset.on || ""; });
  source.addEventListener("error", () => { if (status) status.textContent = status.dataset.off || ""; });
  source.addEventListener("row", (event) => {
    const template = document.createElement("template");
    template.innerHTML = event.data;
    const row = template.content.firstElementChild;
    if (!row) return;
    if (row.id && document.getElementById(row.id)) return;
    row.classList.add("fresh");
    target.insertBefore(row, target.firstElementChild);
    added += 1;
    if (counter) counter.textContent = String(added);
    const empty = document.getElementById(element.dataset.liveEmpty || "");
    if (empty) empty.remove();
  });
  source.addEventListener("replace", (event) => {
    const template = document.createElement("template");
    template.innerHTML = event.data;
    target.replaceChildren(template.content);
  });
}

// A checkbox with data-check-all="NAME" ticks every checkbox named NAME in its form.
function startCheckAll(box) {
  box.addEventListener("change", () => {
    for (const other of box.form.querySelectorAll(`input[type=checkbox][name="${box.dataset.checkAll}"]`)) {
      other.checked = box.checked;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const element of document.querySelectorAll("[data-live]")) startLive(element);
  for (const box of document.querySelectorAll("input[data-check-all]")) startCheckAll(box);
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});
