// Sentinelle's one script: small, ours, loaded from our own origin (the Content-Security-Policy
// allows nothing else). Pages work without it; it adds live updates and a few conveniences.
"use strict";

// Live updates: an element with data-live="URL" listens to that server-sent event stream.
// "row" events carry HTML rendered (and escaped) by the server, inserted at the top of the
// element (or of data-live-target); "replace" events replace its content; "swap" events carry
// elements that replace the elements of the page with the same id; "count" events update the
// element named by data-live-count. A stream the browser gave up on (an error answer while the
// server restarted) is opened again, later each time: a screen on a wall reconnects alone.
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
  source.addEventListener("swap", (event) => {
    const template = document.createElement("template");
    template.innerHTML = event.data;
    for (const fresh of Array.from(template.content.children)) {
      const old = fresh.id ? document.getElementById(fresh.id) : null;
      if (!old) continue;
      if (old.dataset.status && old.dataset.status !== fresh.dataset.status) fresh.classList.add("fresh");
      old.replaceWith(fresh);
    }
    tickDeadlines();
  });
  source.addEventListener("open", () => { element.dataset.liveRetry = ""; });
  source.addEventListener("error", () => {
    if (source.readyState !== EventSource.CLOSED) return;
    const wait = Math.min(60000, (Number(element.dataset.liveRetry) || 1000) * 2);
    element.dataset.liveRetry = String(wait);
    setTimeout(() => startLive(element), wait);
  });
}

// Elements with data-due (a time) show the time left to it; the server wrote the same words
// ("%s left", "overdue by %s") in data-left and data-overdue, in the page's language.
function spanText(minutes) {
  const m = Math.abs(minutes);
  if (m >= 48 * 60) return `${Math.floor(m / 1440)} d ${Math.floor((m % 1440) / 60)} h`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}
function tickDeadlines() {
  for (const element of document.querySelectorAll("[data-due]")) {
    const due = Date.parse(element.dataset.due);
    if (Number.isNaN(due)) continue;
    const minutes = Math.round((due - Date.now()) / 60000);
    const words = minutes >= 0 ? element.dataset.left : element.dataset.overdue;
    if (words) element.textContent = words.replace("%s", spanText(minutes));
  }
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
  setInterval(tickDeadlines, 30000);
  for (const box of document.querySelectorAll("input[data-check-all]")) startCheckAll(box);
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});
