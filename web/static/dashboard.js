// Dashboard: polls /api/streams for state, refreshes thumbnails, and shows the live event
// timeline from /api/events (Server-Sent Events).
"use strict";

const $ = (sel) => document.querySelector(sel);
const cards = new Map(); // stream id -> card element
const thumbTimes = new Map();
const MAX_EVENTS = 150;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function bars(top) {
  const box = el("div", "bars");
  for (const ls of (top || []).slice(0, 3)) {
    const row = el("div", "bar");
    row.append(el("span", "", ls.label));
    const track = el("div", "track");
    const fill = el("div", "fill");
    fill.style.width = Math.round(Math.max(0, Math.min(1, ls.score)) * 100) + "%";
    track.append(fill);
    row.append(track, el("span", "", ls.score.toFixed(2)));
    box.append(row);
  }
  return box;
}

function card(id) {
  let c = cards.get(id);
  if (c) return c;
  c = el("article", "card");
  c.dataset.stream = id;
  const img = el("img", "thumb");
  img.alt = "latest frame of " + id;
  // The frame keeps the stream's aspect ratio, so box fractions of the frame are fractions of it.
  const frame = el("div", "frame");
  frame.append(img, el("div", "actors"));
  const body = el("div", "body");
  const title = el("div", "title");
  title.append(el("b", "name", id), el("span", "badge status", "…"));
  body.append(title, el("div", "facts"), el("div", "chips"), el("div", "top"));
  c.append(frame, body);
  $("#streams").append(c);
  cards.set(id, c);
  return c;
}

function render(st) {
  const c = card(st.id);
  const status = c.querySelector(".status");
  status.textContent = st.status;
  status.className = "badge status " + st.status;
  c.dataset.status = st.status;
  const size = st.width ? `${st.width}×${st.height}` : "";
  const facts = [st.codec, size, `${(st.fps || 0).toFixed(1)} fps`, `${st.clips} clips`];
  if (st.clips_dropped) facts.push(`${st.clips_dropped} dropped`);
  if (st.decode_errors) facts.push(`${st.decode_errors} errors`);
  if (st.reason && st.status !== "up") facts.push(st.reason);
  c.querySelector(".facts").textContent = facts.filter(Boolean).join(" · ");
  const chips = c.querySelector(".chips");
  chips.replaceChildren();
  for (const a of st.active || []) {
    const who = a.actor_id ? `#${a.actor_id} ` : "";
    chips.append(el("span", "chip", `${who}${a.label} ${(a.score || 0).toFixed(2)}`));
  }
  drawActors(c, st);
  if (!(st.active || []).length) chips.append(el("span", "hint", "no action in progress"));
  c.querySelector(".top").replaceChildren(bars(st.top));
  // Refresh the thumbnail every 2 s while the stream is decoding.
  const now = Date.now();
  if (st.frames_decoded > 0 && (now - (thumbTimes.get(st.id) || 0)) > 2000) {
    thumbTimes.set(st.id, now);
    c.querySelector(".thumb").src = `/api/streams/${encodeURIComponent(st.id)}/thumbnail.jpg?t=${now}`;
  }
}

// drawActors outlines a detection model's actors (boxes are fractions of the frame at the
// latest clip's key frame) with their id and best label on the thumbnail.
function drawActors(c, st) {
  const frame = c.querySelector(".frame");
  if (st.width && st.height) frame.style.aspectRatio = `${st.width} / ${st.height}`;
  const layer = c.querySelector(".actors");
  layer.replaceChildren();
  const pct = (v) => (Math.max(0, Math.min(1, v)) * 100).toFixed(2) + "%";
  for (const a of st.actors || []) {
    const b = a.box || {};
    const d = el("div", "actor");
    d.dataset.actor = a.actor_id;
    d.dataset.label = a.label;
    d.style.left = pct(b.x1);
    d.style.top = pct(b.y1);
    d.style.width = pct(b.x2 - b.x1);
    d.style.height = pct(b.y2 - b.y1);
    d.append(el("span", "label", `#${a.actor_id} ${a.label} ${(a.score || 0).toFixed(2)}`));
    layer.append(d);
  }
}

async function poll() {
  try {
    const r = await fetch("/api/streams", { cache: "no-store" });
    if (r.status === 401) { // signed out (the token changed): sign in again, then come back
      location.href = "/signin?next=" + encodeURIComponent(location.pathname);
      return;
    }
    const j = await r.json();
    if (j.model) $("#model").textContent = `model ${j.model.name} · ${j.model.provider}`;
    const seen = new Set();
    for (const st of j.streams || []) { seen.add(st.id); render(st); }
    for (const [id, c] of cards) if (!seen.has(id)) { c.remove(); cards.delete(id); }
    $("#count").textContent = String(cards.size);
    $("#nostreams").style.display = cards.size ? "none" : "";
  } catch (e) {
    $("#model").textContent = "server unreachable";
  }
}

function describe(e) {
  const d = e.data || {};
  switch (e.type) {
    case "clip.scored": {
      const t = (d.top_k || [])[0];
      return t ? `${t.label} ${t.score.toFixed(2)}` : "";
    }
    case "action.started": case "action.updated": return `${d.actor_id ? "#" + d.actor_id + " " : ""}${d.label} ${(d.score || 0).toFixed(2)}`;
    case "action.ended": return `${d.label} after ${(d.duration_s || 0).toFixed(1)} s (peak ${(d.peak_score || 0).toFixed(2)})`;
    default: return d.reason || "";
  }
}

function addEvent(e) {
  if (e.type === "clip.scored" && !$("#showclips").checked) return;
  const li = el("li");
  li.dataset.type = e.type;
  li.dataset.stream = (e.data || {}).stream || "";
  const t = new Date(e.time);
  li.append(el("time", "", t.toLocaleTimeString([], { hour12: false })));
  const kind = e.type.startsWith("action") ? "action" : e.type.startsWith("stream") ? "stream" : "clip";
  const text = el("div");
  text.append(el("span", "t " + kind, e.type), document.createTextNode(` ${li.dataset.stream} ${describe(e)}`));
  li.append(text);
  const tl = $("#timeline");
  tl.prepend(li);
  while (tl.children.length > MAX_EVENTS) tl.lastChild.remove();
}

function listen() {
  const es = new EventSource("/api/events");
  const live = $("#live");
  es.onopen = () => { live.textContent = "live"; live.className = "badge up"; };
  es.onerror = () => { live.textContent = "reconnecting"; live.className = "badge down"; };
  for (const type of ["clip.scored", "action.started", "action.updated", "action.ended", "stream.up", "stream.down"]) {
    es.addEventListener(type, (m) => {
      try { addEvent(JSON.parse(m.data)); } catch (err) { /* a malformed line: skip */ }
      if (type.startsWith("stream")) poll();
    });
  }
}

poll();
setInterval(poll, 1500);
listen();
