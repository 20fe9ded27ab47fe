// The live wallboard: a websocket snapshot plus merge patches, drawn with DOM nodes and
// textContent only (caller names are attacker-controlled; nothing here uses innerHTML).
// Timers run here from the state's `since` timestamps, corrected for clock skew with the
// messages' `now`; the server only pushes changes.

const config = JSON.parse(document.body.dataset.config || "{}");
const limits = config.thresholds || {};
const heartbeat = Number(config.heartbeat) || 15;
const params = new URLSearchParams(location.search);
const MAX_BACKOFF = 5000;
const MAX_CALLERS = 40;
const STATE_LABELS = {
  incall: "In call",
  ringing: "Ringing",
  busy: "Busy",
  available: "Available",
  paused: "Paused",
  off: "Logged off",
};
// Which membership speaks for an agent in several queues.
const STATE_RANK = { incall: 6, ringing: 5, busy: 4, available: 3, paused: 2, off: 1 };

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------- small helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setLevel(node, level) {
  node.classList.toggle("warn", level === "warn");
  node.classList.toggle("alert", level === "alert");
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// RFC 7396 JSON Merge Patch; objects without a prototype so no key can reach Object.prototype.
export function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const result = Object.assign(Object.create(null), isObject(target) ? target : null);
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function formatDuration(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function formatClock(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function formatPercent(value) {
  return value === null ? "—" : `${value >= 99.95 || value === 0 ? value.toFixed(0) : value.toFixed(1)}%`;
}

// ---------------------------------------------------------------------------- server time

const skewSamples = [];
let skew = 0; // server clock minus browser clock, seconds

function noteServerTime(now) {
  if (typeof now !== "number") return;
  // A message is never older than its `now`: the largest recent offset is the closest.
  skewSamples.push(now - Date.now() / 1000);
  if (skewSamples.length > 16) skewSamples.shift();
  skew = Math.max(...skewSamples);
}

const serverNow = () => Date.now() / 1000 + skew;

// ---------------------------------------------------------------------------- thresholds

function waitLevel(seconds) {
  if (seconds >= limits.alert_wait) return "alert";
  if (seconds >= limits.warn_wait) return "warn";
  return "";
}

function serviceLevelLevel(percent) {
  if (percent === null) return "";
  if (percent < limits.alert_sl) return "alert";
  if (percent < limits.warn_sl) return "warn";
  return "";
}

function abandonLevel(percent) {
  if (percent === null) return "";
  if (percent >= limits.alert_abandon) return "alert";
  if (percent >= limits.warn_abandon) return "warn";
  return "";
}

function worst(...levels) {
  if (levels.includes("alert")) return "alert";
  if (levels.includes("warn")) return "warn";
  return "";
}

// ---------------------------------------------------------------------------- the model

function memberState(member) {
  const text = member.status_text || "";
  if (text === "unavailable" || text === "invalid") return "off";
  if (member.in_call) return "incall";
  if (text === "ringing") return "ringing";
  if (member.paused) return "paused";
  if (text === "busy" || text === "onhold") return "busy";
  return "available";
}

// Same definitions as wallboard/live/realtime.py (the REST `realtime` entity).
function summarize(queue) {
  let available = 0;
  let busy = 0;
  let paused = 0;
  let off = 0;
  for (const member of Object.values(queue.members || {})) {
    const text = member.status_text || "";
    const loggedOff = text === "unavailable" || text === "invalid";
    if (loggedOff) off += 1;
    if (member.paused && !loggedOff) paused += 1;
    if (!loggedOff && (member.in_call || text === "busy" || text === "onhold")) busy += 1;
    if (text === "available" && !member.paused && !member.in_call) available += 1;
  }
  const counters = queue.counters || {};
  const answered = counters.answered || 0;
  const received = counters.received || 0;
  let oldest = null;
  const callers = Object.values(queue.callers || {});
  for (const caller of callers) {
    if (typeof caller.since === "number" && (oldest === null || caller.since < oldest)) oldest = caller.since;
  }
  return {
    available,
    busy,
    paused,
    off,
    waiting: callers.length,
    oldest,
    answered,
    abandoned: counters.abandoned || 0,
    abandonRate: received ? (100 * (counters.abandoned || 0)) / received : null,
    serviceLevel: answered ? (100 * (counters.sl_within || 0)) / answered : null,
    avgWait: answered ? Math.floor((2 * (counters.wait_answered_sum || 0) + answered) / (2 * answered)) : null,
    slSeconds: counters.service_level,
  };
}

function agentsOf(names, queues) {
  const agents = new Map();
  for (const queueName of names) {
    for (const [iface, member] of Object.entries(queues[queueName].members || {})) {
      let agent = agents.get(iface);
      if (!agent) {
        agent = { iface, name: member.name || iface, queues: [], state: "off", since: 0, reason: "", rank: 0 };
        agents.set(iface, agent);
      }
      agent.queues.push(queueName);
      const state = memberState(member);
      if (STATE_RANK[state] > agent.rank) {
        agent.rank = STATE_RANK[state];
        agent.state = state;
        agent.since = member.since || 0;
      }
      if (member.paused && member.pause_reason && !agent.reason) agent.reason = member.pause_reason;
    }
  }
  return [...agents.values()].sort(
    (a, b) => (a.state === "off") - (b.state === "off") || collator.compare(a.name, b.name) || collator.compare(a.iface, b.iface),
  );
}

// ---------------------------------------------------------------------------- rendering

// Keeps `container`'s children in step with `items`, reusing nodes by key.
function reconcile(container, items, keyOf, create, update) {
  const existing = new Map();
  for (const child of container.children) existing.set(child.dataset.key, child);
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    let node = existing.get(key);
    if (node) existing.delete(key);
    else {
      node = create(item);
      node.dataset.key = key;
    }
    update(node, item);
    const expected = previous ? previous.nextSibling : container.firstChild;
    if (node !== expected) container.insertBefore(node, expected);
    previous = node;
  }
  for (const node of existing.values()) node.remove();
}

function statBox(label, className) {
  const box = el("div", `stat ${className}`);
  box.append(el("b", "stat-value", "—"), el("span", "stat-label", label));
  return box;
}

function chip(label, className) {
  const box = el("div", `chip ${className}`);
  box.append(el("b", "chip-value", "0"), el("span", "chip-label", label));
  return box;
}

function createQueueTile() {
  const tile = el("article", "tile queue");
  const head = el("header", "tile-head");
  head.append(el("h3", "queue-name"), el("span", "queue-sl"));
  const kpis = el("div", "kpis");
  const waiting = el("div", "kpi kpi-waiting");
  waiting.append(el("span", "kpi-value waiting", "0"), el("span", "kpi-label", "Waiting"));
  const longest = el("div", "kpi kpi-longest");
  const timer = el("span", "kpi-value longest timer", "—");
  timer.dataset.level = "wait";
  longest.append(timer, el("span", "kpi-label", "Longest wait"));
  kpis.append(waiting, longest);
  const chips = el("div", "chips");
  chips.append(chip("Available", "available"), chip("Busy", "busy"), chip("Paused", "paused"), chip("Logged off", "off"));
  const stats = el("div", "stats");
  stats.append(
    statBox("Answered", "answered"),
    statBox("Abandoned", "abandoned"),
    statBox("Abandon rate", "abandon-rate"),
    statBox("Service level", "service-level"),
    statBox("Avg wait", "avg-wait"),
  );
  tile.append(head, kpis, chips, stats);
  return tile;
}

function updateQueueTile(tile, { name, queue, label }) {
  const s = summarize(queue);
  tile.dataset.queue = name;
  setText(tile.querySelector(".queue-name"), label || name);
  setText(tile.querySelector(".queue-sl"), typeof s.slSeconds === "number" ? `SL ${s.slSeconds} s` : "");
  const waiting = tile.querySelector(".waiting");
  setText(waiting, String(s.waiting));
  waiting.classList.toggle("zero", s.waiting === 0);
  const timer = tile.querySelector(".longest");
  if (s.oldest === null) delete timer.dataset.since;
  else timer.dataset.since = String(s.oldest);
  for (const key of ["available", "busy", "paused", "off"]) {
    setText(tile.querySelector(`.chip.${key} .chip-value`), String(s[key]));
  }
  const stat = (cls, text, level = "") => {
    const node = tile.querySelector(`.stat.${cls} .stat-value`);
    setText(node, text);
    setLevel(node, level);
  };
  stat("answered", String(s.answered));
  stat("abandoned", String(s.abandoned));
  const abandon = abandonLevel(s.abandonRate);
  const service = serviceLevelLevel(s.serviceLevel);
  stat("abandon-rate", formatPercent(s.abandonRate), abandon);
  stat("service-level", formatPercent(s.serviceLevel), service);
  stat("avg-wait", s.avgWait === null ? "—" : formatDuration(s.avgWait));
  tile.dataset.staticLevel = worst(abandon, service);
}

function createCallerRow() {
  const row = el("li", "caller");
  const who = el("div", "who");
  who.append(el("span", "caller-name"), el("span", "caller-meta"));
  const wait = el("span", "wait timer", "—");
  wait.dataset.level = "wait";
  row.append(el("span", "pos"), who, wait);
  return row;
}

function updateCallerRow(row, { queue, uniqueid, caller, showQueue }) {
  row.dataset.caller = uniqueid;
  row.dataset.queue = queue;
  const name = caller.callerid_name && caller.callerid_name !== "<unknown>" ? caller.callerid_name : "";
  const number = caller.callerid_num && caller.callerid_num !== "<unknown>" ? caller.callerid_num : "";
  setText(row.querySelector(".pos"), String(caller.position ?? ""));
  setText(row.querySelector(".caller-name"), name || number || "Unknown caller");
  const meta = [name && number ? number : "", showQueue ? queue : ""].filter(Boolean).join(" · ");
  setText(row.querySelector(".caller-meta"), meta);
  row.querySelector(".wait").dataset.since = String(caller.since || 0);
}

function createAgentTile() {
  const tile = el("div", "agent");
  const top = el("div", "agent-top");
  top.append(el("span", "agent-name"), el("span", "agent-time timer", "—"));
  const line = el("div", "agent-line");
  line.append(el("span", "agent-state"), el("span", "agent-queues"));
  tile.append(top, line);
  return tile;
}

function updateAgentTile(tile, agent) {
  tile.dataset.agent = agent.iface;
  tile.dataset.state = agent.state;
  tile.className = `agent state-${agent.state}`;
  setText(tile.querySelector(".agent-name"), agent.name);
  const label = STATE_LABELS[agent.state];
  setText(tile.querySelector(".agent-state"), agent.state === "paused" && agent.reason ? `${label} · ${agent.reason}` : label);
  setText(tile.querySelector(".agent-queues"), agent.queues.join(" "));
  const timer = tile.querySelector(".agent-time");
  if (agent.since > 0 && agent.state !== "off") timer.dataset.since = String(agent.since);
  else {
    delete timer.dataset.since;
    setText(timer, "");
  }
}

function linkWords(info) {
  // One PBX's AMI link and history source, as a pill's class and text.
  if (info.ami === false) return ["pill-ok", "no AMI link"];
  if (info.connected) return ["pill-ok", "linked"];
  if (!(info.since > 0)) return ["pill-warn", "not linked"];
  return ["pill-alert", `link down since ${formatClock(info.since)}`];
}

function renderConnection(connection, pbxs) {
  const pill = $("pbx");
  const banner = $("pbx-banner");
  if (!connection) return;
  const names = Object.keys(pbxs || {}).sort(collator.compare);
  const problems = names
    .filter((name) => pbxs[name].history_ok === false)
    .map((name) => `${names.length > 1 ? name + " " : ""}history: ${pbxs[name].history_error}`);
  if (names.length > 1) {
    // Several PBXs: the pill counts the links up; the banner names those down.
    const linked = names.filter((name) => pbxs[name].ami === false || pbxs[name].connected);
    const down = names.filter((name) => pbxs[name].ami !== false && !pbxs[name].connected && pbxs[name].since > 0);
    pill.className = `pill ${down.length ? "pill-alert" : linked.length === names.length ? "pill-ok" : "pill-warn"}`;
    pill.title = connection.error || "";
    setText(pill, `${linked.length} of ${names.length} PBXs linked`);
    const lines = down.map((name) => `${name}: link down since ${formatClock(pbxs[name].since)} — its figures may be out of date`);
    setText(banner, [...lines, ...problems].join(" · "));
    banner.hidden = lines.length + problems.length === 0;
    return;
  }
  pill.title = connection.error || "";
  if (connection.connected) {
    pill.className = "pill pill-ok";
    setText(pill, "PBX linked");
    setText(banner, problems.join(" · "));
    banner.hidden = problems.length === 0;
  } else if (!(connection.since > 0)) {
    // never linked yet (starting up, or a server without an AMI connection)
    pill.className = "pill pill-warn";
    setText(pill, "PBX not linked");
    setText(banner, problems.join(" · "));
    banner.hidden = problems.length === 0;
  } else {
    pill.className = "pill pill-alert";
    setText(pill, "PBX link down");
    setText(banner, [`PBX link down since ${formatClock(connection.since)} — figures may be out of date`, ...problems].join(" · "));
    banner.hidden = false;
  }
}

function createPbxGroup() {
  const group = el("section", "pbx-group");
  const head = el("header", "pbx-head");
  head.append(el("h2", "pbx-name"), el("span", "pill pbx-link"), el("span", "pbx-history"));
  group.append(head, el("div", "queues pbx-queues"));
  return group;
}

function updatePbxGroup(group, { pbx, info, names, queues }) {
  group.dataset.pbx = pbx;
  setText(group.querySelector(".pbx-name"), pbx);
  const [level, words] = linkWords(info);
  const link = group.querySelector(".pbx-link");
  link.className = `pill pbx-link ${level}`;
  link.title = info.error || "";
  setText(link, words);
  setText(group.querySelector(".pbx-history"), info.history_ok === false ? `history: ${info.history_error}` : "");
  group.classList.toggle("down", level === "pill-alert");
  const prefix = `${pbx}/`;
  const tiles = names.map((name) => ({ name, queue: queues[name], label: name.startsWith(prefix) ? name.slice(prefix.length) : name }));
  reconcile(group.querySelector(".pbx-queues"), tiles, (item) => item.name, createQueueTile, updateQueueTile);
  group.querySelector(".pbx-queues").hidden = tiles.length === 0;
}

let state = null;

function render() {
  if (!state) return;
  const queues = state.queues || {};
  const names = Object.keys(queues).sort(collator.compare);
  const pbxs = state.pbxs || {};
  const pbxNames = Object.keys(pbxs).sort(collator.compare);
  renderConnection(state.connection, pbxs);

  // Several PBXs: a group per PBX with its link, so one PBX down never blanks the others.
  const grouped = pbxNames.length > 1;
  $("queues").classList.toggle("grouped", grouped);
  if (grouped) {
    const groups = pbxNames.map((pbx) => ({ pbx, info: pbxs[pbx], queues, names: names.filter((name) => queues[name].pbx === pbx) }));
    reconcile($("queues"), groups, (group) => `pbx\u0000${group.pbx}`, createPbxGroup, updatePbxGroup);
  } else {
    reconcile($("queues"), names.map((name) => ({ name, queue: queues[name] })), (item) => item.name, createQueueTile, updateQueueTile);
  }
  $("queues-empty").hidden = names.length > 0;

  const callers = [];
  for (const name of names) {
    for (const [uniqueid, caller] of Object.entries(queues[name].callers || {})) {
      callers.push({ queue: name, uniqueid, caller, showQueue: names.length > 1 });
    }
  }
  callers.sort((a, b) => (a.caller.since || 0) - (b.caller.since || 0) || collator.compare(a.uniqueid, b.uniqueid));
  const shown = callers.slice(0, MAX_CALLERS);
  reconcile($("callers"), shown, (item) => `${item.queue}\u0000${item.uniqueid}`, createCallerRow, updateCallerRow);
  $("callers-empty").hidden = callers.length > 0;
  setText($("callers-count"), callers.length ? String(callers.length) : "");
  const more = $("callers-more");
  more.hidden = callers.length <= shown.length;
  setText(more, `+ ${callers.length - shown.length} more`);

  const agents = agentsOf(names, queues);
  reconcile($("agents"), agents, (agent) => agent.iface, createAgentTile, updateAgentTile);
  $("agents-empty").hidden = agents.length > 0;
  const ready = agents.filter((agent) => agent.state === "available").length;
  setText($("agents-count"), agents.length ? `${ready} of ${agents.length} available` : "");
  tick();
}

let renderPending = false;

function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

// Once a second: timers, their colours, the clock and the freshness marker.
function tick() {
  const now = serverNow();
  for (const node of document.querySelectorAll(".timer")) {
    const since = Number(node.dataset.since);
    const idle = !node.dataset.since || !(since > 0);
    node.classList.toggle("zero", idle);
    if (idle) {
      if (node.dataset.level) setLevel(node, "");
      if (node.classList.contains("longest")) setText(node, "0:00");
      continue;
    }
    const seconds = Math.max(0, now - since);
    setText(node, formatDuration(seconds));
    if (node.dataset.level === "wait") setLevel(node, waitLevel(seconds));
  }
  for (const tile of document.querySelectorAll(".queue")) {
    const longest = tile.querySelector(".longest");
    const waitNow = longest.dataset.since ? waitLevel(now - Number(longest.dataset.since)) : "";
    const level = worst(waitNow, tile.dataset.staticLevel || "");
    tile.classList.toggle("level-warn", level === "warn");
    tile.classList.toggle("level-alert", level === "alert");
  }
  setText($("clock"), new Date(now * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }));
  updateFreshness();
}

// ---------------------------------------------------------------------------- connection

let socket = null;
let epoch = null;
let seq = 0;
let awaitingSnapshot = true;
let backoff = 500;
let failures = 0;
let lastMessageAt = 0;
let stopped = false;

function updateFreshness() {
  const pill = $("link");
  const open = socket !== null && socket.readyState === WebSocket.OPEN && !awaitingSnapshot;
  const quiet = lastMessageAt ? (Date.now() - lastMessageAt) / 1000 : 0;
  const stale = open && quiet > 2.5 * heartbeat;
  document.body.classList.toggle("offline", !open && state !== null);
  document.body.classList.toggle("stale", stale);
  if (stopped) {
    pill.className = "pill pill-alert";
    setText(pill, "Stopped");
  } else if (!open) {
    pill.className = "pill pill-alert";
    setText(pill, state === null ? "Connecting…" : "Offline");
  } else if (stale) {
    pill.className = "pill pill-warn";
    setText(pill, `No update for ${formatDuration(quiet)}`);
  } else {
    pill.className = "pill pill-ok";
    setText(pill, "Live");
  }
}

function showBanner(text) {
  const banner = $("banner");
  setText(banner, text);
  banner.hidden = false;
}

function stop(title, text) {
  stopped = true;
  if (socket) socket.close();
  setText($("overlay-title"), title);
  setText($("overlay-text"), text);
  $("overlay").hidden = false;
  $("banner").hidden = true;
  document.body.classList.add("stopped");
  updateFreshness();
}

function socketUrl() {
  const url = new URL(config.ws || "/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  for (const key of ["display", "queues"]) {
    const value = params.get(key);
    if (value) url.searchParams.set(key, value);
  }
  return url.href;
}

function send(ws, message) {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

function requestResync(ws) {
  awaitingSnapshot = true;
  send(ws, { type: "resync" });
}

function onMessage(ws, event) {
  if (socket !== ws) return;
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  lastMessageAt = Date.now();
  noteServerTime(message.now);
  switch (message.type) {
    case "snapshot":
      state = mergePatch(null, message.state);
      epoch = message.epoch;
      seq = message.seq;
      awaitingSnapshot = false;
      failures = 0;
      $("banner").hidden = true;
      render();
      break;
    case "patch":
      if (awaitingSnapshot) break;
      if (message.epoch !== epoch || message.seq !== seq + 1) {
        requestResync(ws);
        break;
      }
      state = mergePatch(state, message.patch);
      seq = message.seq;
      scheduleRender();
      break;
    case "ping":
    case "pong":
      if (!awaitingSnapshot && (message.epoch !== epoch || message.seq !== seq)) requestResync(ws);
      break;
    case "error":
      console.warn("wallboard server:", message.code, message.message);
      break;
    default:
      break;
  }
  updateFreshness();
}

// After failed handshakes: is it the server, or our credentials?
async function probeAccess() {
  try {
    const response = await fetch(location.href, { method: "HEAD", redirect: "manual", cache: "no-store" });
    if (response.type === "opaqueredirect") location.reload(); // session gone: to the login form
    else if (response.status === 401) {
      if (params.get("display")) stop("Display link revoked", "Ask an administrator for a new display link.");
      else location.reload();
    }
  } catch {
    // the server is unreachable: keep retrying
  }
}

function onClose(ws, event, opened) {
  if (socket !== ws) return;
  socket = null;
  if (stopped) return;
  if (event.code === 1008 && event.reason.includes("revoked")) {
    stop("Display link revoked", "Ask an administrator for a new display link.");
    return;
  }
  if (event.code === 1008 && event.reason === "session ended") {
    location.reload();
    return;
  }
  if (!opened) failures += 1;
  const delay = Math.min(MAX_BACKOFF, backoff * (0.75 + Math.random() * 0.5));
  backoff = Math.min(backoff * 2, MAX_BACKOFF);
  showBanner(state === null ? "Cannot reach the wallboard server — retrying…" : "Connection lost — reconnecting…");
  if (failures > 0 && failures % 3 === 0) probeAccess();
  setTimeout(connect, delay);
  updateFreshness();
}

function connect() {
  if (stopped) return;
  let opened = false;
  const ws = new WebSocket(socketUrl());
  socket = ws;
  awaitingSnapshot = true;
  ws.addEventListener("open", () => {
    opened = true;
    backoff = 500;
  });
  ws.addEventListener("message", (event) => onMessage(ws, event));
  ws.addEventListener("close", (event) => onClose(ws, event, opened));
  updateFreshness();
}

// ---------------------------------------------------------------------------- start

if (!config.live) {
  showBanner("The live side is not running on this server (no PBX configured).");
} else {
  connect();
}
setInterval(() => {
  if (socket) send(socket, { type: "ping" });
}, 25000);
// Tick on the second boundary, so every timer on the page changes together.
setTimeout(function every() {
  tick();
  setTimeout(every, 1000 - (Date.now() % 1000) + 5);
}, 1000 - (Date.now() % 1000));
tick();
window.wallboard = { get state() { return state; }, get seq() { return seq; }, get epoch() { return epoch; } };
