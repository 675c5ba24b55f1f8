// Publish page: sends this device's camera to the server over WHIP (RFC 9725) and lists the
// actions recognised on the stream as they arrive (Server-Sent Events).
"use strict";

const $ = (sel) => document.querySelector(sel);
let pc = null, media = null, location_ = null, events = null;

function setState(text, cls) {
  const s = $("#state");
  s.textContent = text;
  s.className = "state " + (cls || text);
  document.body.dataset.state = text;
}
function message(text) { $("#message").textContent = text || ""; }

function endpoint() { return `${window.location.origin}/whip/${encodeURIComponent($("#stream").value.trim())}`; }

async function listCameras() {
  try {
    const devs = await navigator.mediaDevices.enumerateDevices();
    const sel = $("#camera");
    const keep = sel.value;
    sel.replaceChildren(new Option("default camera", ""));
    for (const d of devs.filter((d) => d.kind === "videoinput")) {
      sel.append(new Option(d.label || `camera ${sel.length}`, d.deviceId));
    }
    sel.value = keep;
  } catch (e) { /* no media devices: the default is all we can offer */ }
}

function waitGathering(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    const t = setTimeout(resolve, ms);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
    });
  });
}

function authHeaders() {
  const tok = $("#token").value.trim();
  return tok ? { Authorization: "Bearer " + tok } : {};
}

async function start() {
  const id = $("#stream").value.trim();
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(id)) { message("The stream id may hold letters, digits, '-', '_' and '.'."); return; }
  localStorage.setItem("actionstream.token", $("#token").value);
  localStorage.setItem("actionstream.stream", id);
  $("#publish").disabled = true;
  $("#endpoint").textContent = endpoint();
  message("");
  try {
    const [w, h] = $("#resolution").value.split("x").map(Number);
    const video = { width: { ideal: w }, height: { ideal: h }, frameRate: { ideal: 30 } };
    if ($("#camera").value) video.deviceId = { exact: $("#camera").value };
    setState("camera", "connecting");
    media = await navigator.mediaDevices.getUserMedia({ video, audio: false });
    $("#preview").srcObject = media;
    listCameras();
    pc = new RTCPeerConnection();
    pc.addEventListener("connectionstatechange", () => {
      setState(pc.connectionState);
      if (pc.connectionState === "failed") message("The connection failed: is the server's UDP port range (or ICE-TCP) reachable from here?");
    });
    const tr = pc.addTransceiver(media.getVideoTracks()[0], { direction: "sendonly" });
    const want = $("#codec").value;
    if (want && RTCRtpSender.getCapabilities && tr.setCodecPreferences) {
      const all = RTCRtpSender.getCapabilities("video").codecs;
      const pref = all.filter((c) => c.mimeType === want).concat(all.filter((c) => c.mimeType === "video/rtx"));
      if (pref.length) tr.setCodecPreferences(pref);
    }
    await pc.setLocalDescription(await pc.createOffer());
    setState("gathering", "connecting");
    await waitGathering(pc, 2000);
    setState("offering", "connecting");
    const resp = await fetch(endpoint(), {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/sdp" }, authHeaders()),
      body: pc.localDescription.sdp,
    });
    const body = await resp.text();
    if (resp.status !== 201) throw new Error(`the server answered ${resp.status}: ${body.trim()}`);
    location_ = new URL(resp.headers.get("Location"), endpoint()).toString();
    await pc.setRemoteDescription({ type: "answer", sdp: body });
    setState(pc.connectionState === "new" ? "connecting" : pc.connectionState);
    listen(id);
    $("#publish").textContent = "Stop";
    $("#publish").className = "stop";
  } catch (e) {
    message(String(e.message || e));
    setState("error");
    await teardown(false);
  } finally {
    $("#publish").disabled = false;
  }
}

async function teardown(sayGoodbye) {
  if (sayGoodbye && location_) {
    try { await fetch(location_, { method: "DELETE", headers: authHeaders() }); } catch (e) { /* the server may be gone */ }
  }
  location_ = null;
  if (events) { events.close(); events = null; }
  if (pc) { pc.close(); pc = null; }
  if (media) { media.getTracks().forEach((t) => t.stop()); media = null; }
  $("#preview").srcObject = null;
  $("#publish").textContent = "Publish";
  $("#publish").className = "";
}

function bars(top) {
  const box = $("#top");
  box.replaceChildren();
  for (const ls of (top || []).slice(0, 5)) {
    const row = document.createElement("div");
    row.className = "bar";
    const name = document.createElement("span");
    name.textContent = ls.label;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = Math.round(Math.max(0, Math.min(1, ls.score)) * 100) + "%";
    track.append(fill);
    const val = document.createElement("span");
    val.textContent = ls.score.toFixed(2);
    row.append(name, track, val);
    box.append(row);
  }
}

function addAction(e) {
  const d = e.data || {};
  const li = document.createElement("li");
  li.dataset.type = e.type;
  const t = document.createElement("time");
  t.textContent = new Date(e.time).toLocaleTimeString([], { hour12: false });
  let text = e.type;
  if (e.type === "action.started") text = `▶ ${d.label} ${(d.score || 0).toFixed(2)}`;
  else if (e.type === "action.ended") text = `■ ${d.label} (${(d.duration_s || 0).toFixed(1)} s, peak ${(d.peak_score || 0).toFixed(2)})`;
  else if (e.type === "stream.up" || e.type === "stream.down") text = `${e.type} ${d.reason || ""}`;
  const s = document.createElement("div");
  s.textContent = text;
  li.append(t, s);
  const list = $("#actions");
  list.prepend(li);
  while (list.children.length > 100) list.lastChild.remove();
}

function listen(id) {
  let clips = 0;
  events = new EventSource(`/api/events?stream=${encodeURIComponent(id)}`);
  events.addEventListener("clip.scored", (m) => {
    const e = JSON.parse(m.data);
    clips++;
    document.body.dataset.clips = String(clips);
    bars(e.data.top_k);
  });
  for (const type of ["action.started", "action.ended", "stream.up", "stream.down"]) {
    events.addEventListener(type, (m) => addAction(JSON.parse(m.data)));
  }
}

$("#form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (pc) { teardown(true); setState("not publishing", "new"); } else { start(); }
});
$("#stream").addEventListener("input", () => { $("#endpoint").textContent = endpoint(); });
// Leaving the page ends the session at once instead of after the server's disconnect timeout.
window.addEventListener("pagehide", () => {
  if (location_) fetch(location_, { method: "DELETE", headers: authHeaders(), keepalive: true });
});

$("#stream").value = localStorage.getItem("actionstream.stream") || `phone-${Math.floor(Math.random() * 9000 + 1000)}`;
$("#token").value = localStorage.getItem("actionstream.token") || "";
$("#endpoint").textContent = endpoint();
if (!navigator.mediaDevices || !window.RTCPeerConnection) {
  message("This browser cannot publish: it needs camera access and WebRTC (and https, or http on localhost).");
  $("#publish").disabled = true;
} else {
  listCameras();
}
