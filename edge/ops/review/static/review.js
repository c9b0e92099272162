// Conveyor QC review page: actions without a reload, keyboard shortcuts, fixing a box, live queue updates.
// No framework and no build step. The server renders every piece of markup; this script only posts actions
// (JSON + the session's CSRF token) and swaps in the server-rendered queue section, which it polls with
// If-None-Match (a 304 when nothing changed). Keys are read from the page's shortcut list, so the list shown is
// exactly what is bound.
"use strict";
(() => {
  const PREFIX = "/review";
  const config = document.getElementById("review-config");
  if (!config) return;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const pollMs = Math.max(500, Number(config.dataset.pollMs) || 4000);
  const statusEl = document.getElementById("status");
  const relabelDialog = document.getElementById("relabel-dialog");
  const frameDialog = document.getElementById("frame-dialog");
  const frameImg = document.getElementById("frame-img");
  const overlay = document.getElementById("box-overlay");
  const boxSave = document.getElementById("box-save");
  const selected = new Set();
  let current = null; // flag id (string) of the highlighted row
  let etag = null;
  let busy = false;

  const queue = () => document.getElementById("queue");
  const rows = () => Array.from(document.querySelectorAll("#queue tr.entry"));
  const rowOf = (id) => document.getElementById("flag-" + id);

  function say(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", Boolean(isError));
  }

  function signedOut() {
    location.href = PREFIX + "/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  function highlight(id) {
    current = id == null ? null : String(id);
    for (const r of rows()) r.classList.toggle("current", r.dataset.flagId === current);
    const row = current && rowOf(current);
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const i = all.findIndex((r) => r.dataset.flagId === current);
    const next = i < 0 ? 0 : Math.min(all.length - 1, Math.max(0, i + step));
    highlight(all[next].dataset.flagId);
  }

  function syncSelection() {
    const present = new Set(rows().map((r) => r.dataset.flagId));
    for (const id of Array.from(selected)) if (!present.has(id)) selected.delete(id);
    for (const r of rows()) r.querySelector("input.pick").checked = selected.has(r.dataset.flagId);
    document.getElementById("selected-count").textContent = String(selected.size);
    document.getElementById("bulk-confirm").disabled = selected.size === 0;
  }

  async function post(path, body) {
    const resp = await fetch(PREFIX + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    if (resp.status === 401) {
      signedOut();
      throw new Error("signed out");
    }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(data.error || "the service answered " + resp.status);
    return data;
  }

  // Swap in the server's queue section when it changed; keep the highlighted position and the selection.
  async function refresh(force) {
    const section = queue();
    if (!section) return;
    const headers = {};
    if (etag && !force) headers["If-None-Match"] = etag;
    let resp;
    try {
      resp = await fetch(PREFIX + "/queue?" + section.dataset.query, { headers, credentials: "same-origin", cache: "no-store" });
    } catch (e) {
      return; // the service is restarting; the next poll tries again
    }
    if (resp.status === 401) return signedOut();
    if (resp.status === 304 || !resp.ok) return;
    etag = resp.headers.get("ETag");
    const tpl = document.createElement("template");
    tpl.innerHTML = (await resp.text()).trim();
    const fresh = tpl.content.querySelector("#queue");
    if (!fresh) return;
    const index = rows().findIndex((r) => r.dataset.flagId === current);
    queue().replaceWith(fresh);
    const all = rows();
    if (current && rowOf(current)) highlight(current);
    else if (all.length) highlight(all[Math.min(Math.max(index, 0), all.length - 1)].dataset.flagId);
    else highlight(null);
    syncSelection();
  }

  async function run(label, fn) {
    if (busy) return;
    busy = true;
    try {
      say(await fn());
      await refresh(true);
    } catch (e) {
      say(label + ": " + e.message, true);
    } finally {
      busy = false;
    }
  }

  function need(id) {
    if (!id) say("Pick an item first: click a row, or j / k.", true);
    return id;
  }

  const actions = {
    next: () => move(1),
    prev: () => move(-1),
    confirm: (id) => need(id) && run("Confirm", async () => {
      await post(`/api/flags/${id}/confirm`);
      return `#${id}: confirmed waste (u undoes)`;
    }),
    "not-waste": (id) => need(id) && run("Not waste", async () => {
      await post(`/api/flags/${id}/not-waste`);
      return `#${id}: not waste (u undoes)`;
    }),
    relabel: (id) => need(id) && openRelabel(id),
    frame: (id) => need(id) && openFrame(id, false),
    box: (id) => need(id) && openFrame(id, true),
    select: (id) => {
      if (!need(id)) return;
      if (selected.has(id)) selected.delete(id);
      else selected.add(id);
      syncSelection();
    },
    "bulk-confirm": () => {
      if (!selected.size) return say("Select items first (x, or the boxes).", true);
      const ids = Array.from(selected, Number);
      return run("Bulk confirm", async () => {
        await post("/api/bulk-confirm", { flag_ids: ids });
        selected.clear();
        return `${ids.length} item(s) confirmed as waste (u undoes them all)`;
      });
    },
    undo: () => run("Undo", async () => {
      const data = await post("/api/undo");
      if (!data.undone.length) return "Nothing left to undo.";
      const ids = data.undone.map((r) => "#" + r.flag_id).join(", ");
      return `Undid your last action on ${ids}`;
    }),
    help: () => document.getElementById("shortcuts").classList.toggle("hidden"),
  };

  // ---- relabel -----------------------------------------------------------------------------------------------
  let relabelId = null;
  function openRelabel(id) {
    const row = rowOf(id);
    relabelId = id;
    document.getElementById("relabel-id").textContent = "#" + id;
    document.getElementById("relabel-produce").value = row.dataset.produce;
    document.getElementById("relabel-condition").value = row.dataset.condition;
    relabelDialog.showModal();
  }
  relabelDialog.addEventListener("close", () => {
    const id = relabelId;
    relabelId = null;
    if (relabelDialog.returnValue !== "save" || !id) return;
    const row = rowOf(id);
    const produce = document.getElementById("relabel-produce").value;
    const condition = document.getElementById("relabel-condition").value;
    const body = {};
    if (!row || produce !== row.dataset.produce) body.produce = produce;
    if (!row || condition !== row.dataset.condition) body.condition = condition;
    if (!Object.keys(body).length) return say("Nothing changed.");
    run("Relabel", async () => {
      await post(`/api/flags/${id}/relabel`, body);
      return `#${id}: relabelled ${produce} · ${condition} (u undoes)`;
    });
  });

  // ---- whole frame and box fixing ----------------------------------------------------------------------------
  let frameId = null;
  let drawing = null; // {x0, y0} in displayed pixels while the mouse is down
  let newBox = null; // [x0, y0, x1, y1] in frame pixels

  function setBoxMode(on) {
    frameDialog.classList.toggle("boxmode", on);
    overlay.hidden = true;
    newBox = null;
    boxSave.disabled = true;
    document.getElementById("frame-hint").textContent = on
      ? "Drag a rectangle around the item, then Save box."
      : "Red: the box as it stands. Amber: the model's box, when fixed. Grey: other items.";
  }

  function openFrame(id, boxMode) {
    const row = rowOf(id);
    if (!row || !row.dataset.frame) return say(`#${id}: no whole frame stored for this item.`, true);
    frameId = id;
    document.getElementById("frame-id").textContent = "#" + id;
    frameImg.src = `${PREFIX}/frames/${id}?t=${Date.now()}`;
    setBoxMode(boxMode);
    if (!frameDialog.open) frameDialog.showModal();
  }

  function framePoint(ev) {
    const r = frameImg.getBoundingClientRect();
    const x = Math.min(Math.max(ev.clientX - r.left, 0), r.width);
    const y = Math.min(Math.max(ev.clientY - r.top, 0), r.height);
    return { x, y, sx: frameImg.naturalWidth / r.width, sy: frameImg.naturalHeight / r.height };
  }

  frameImg.addEventListener("mousedown", (ev) => {
    if (!frameDialog.classList.contains("boxmode")) return;
    ev.preventDefault();
    const p = framePoint(ev);
    drawing = { x0: p.x, y0: p.y };
  });
  window.addEventListener("mousemove", (ev) => {
    if (!drawing) return;
    const p = framePoint(ev);
    const left = Math.min(drawing.x0, p.x);
    const top = Math.min(drawing.y0, p.y);
    Object.assign(overlay.style, {
      left: frameImg.offsetLeft + left + "px",
      top: frameImg.offsetTop + top + "px",
      width: Math.abs(p.x - drawing.x0) + "px",
      height: Math.abs(p.y - drawing.y0) + "px",
    });
    overlay.hidden = false;
  });
  window.addEventListener("mouseup", (ev) => {
    if (!drawing) return;
    const p = framePoint(ev);
    const x0 = Math.min(drawing.x0, p.x) * p.sx;
    const x1 = Math.max(drawing.x0, p.x) * p.sx;
    const y0 = Math.min(drawing.y0, p.y) * p.sy;
    const y1 = Math.max(drawing.y0, p.y) * p.sy;
    drawing = null;
    newBox = [x0, y0, x1, y1].map((v) => Math.round(v * 10) / 10);
    boxSave.disabled = x1 - x0 < 2 || y1 - y0 < 2;
  });
  document.getElementById("box-mode").addEventListener("click", () => setBoxMode(!frameDialog.classList.contains("boxmode")));
  boxSave.addEventListener("click", () => {
    const id = frameId;
    const box = newBox;
    if (!id || !box) return;
    run("Fix box", async () => {
      await post(`/api/flags/${id}/box`, { box });
      openFrame(id, false);
      return `#${id}: box fixed (u undoes)`;
    });
  });

  // ---- wiring ------------------------------------------------------------------------------------------------
  const keymap = new Map();
  for (const k of document.querySelectorAll("kbd[data-shortcut]")) keymap.set(k.dataset.shortcut, k.dataset.action);

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    const typing = t instanceof HTMLElement && (t.isContentEditable || t.tagName === "SELECT" || t.tagName === "TEXTAREA"
      || (t.tagName === "INPUT" && t.type !== "checkbox"));
    if (typing) return;
    if (frameDialog.open) {
      if (ev.key === "b") setBoxMode(!frameDialog.classList.contains("boxmode"));
      return;
    }
    if (relabelDialog.open) return;
    const action = keymap.get(ev.key);
    if (!action || !actions[action]) return;
    ev.preventDefault();
    actions[action](current);
  });

  document.addEventListener("click", (ev) => {
    const t = ev.target;
    if (!(t instanceof Element)) return;
    if (t.id === "bulk-confirm") return actions["bulk-confirm"]();
    if (t.id === "undo") return actions.undo();
    const row = t.closest("#queue tr.entry");
    if (!row) return;
    highlight(row.dataset.flagId);
    const doing = t.closest("button[data-do]");
    if (doing) actions[doing.dataset.do](row.dataset.flagId);
  });

  document.addEventListener("change", (ev) => {
    const t = ev.target;
    if (!(t instanceof HTMLInputElement)) return;
    if (t.id === "select-all") {
      for (const r of rows()) {
        if (t.checked) selected.add(r.dataset.flagId);
        else selected.delete(r.dataset.flagId);
      }
    } else if (t.classList.contains("pick")) {
      const id = t.closest("tr.entry").dataset.flagId;
      if (t.checked) selected.add(id);
      else selected.delete(id);
    } else return;
    syncSelection();
  });

  setInterval(() => {
    if (!document.hidden && !busy && !relabelDialog.open && !frameDialog.open) refresh(false);
  }, pollMs);

  const first = rows()[0];
  highlight(first ? first.dataset.flagId : null);
  syncSelection();
})();
