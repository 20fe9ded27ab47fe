// The live wallboard: a websocket snapshot plus merge patches, drawn with DOM nodes and
// textContent only (caller names are attacker-controlled; nothing here uses innerHTML).
// Timers run here from the state's `since` timestamps, corrected for clock skew with the
// messages' `now`; the server only pushes changes.
//
// Views: all | queues | agents (supervisor tabs: the page grows and scrolls) and tv (a screen
// nobody scrolls: everything is sized to the viewport, every list is cut to what fits and ends
// in "+N more", and ?rotate=SECONDS turns pages for very large rooms).
//
// This entry point reads the page's config, keeps the state over the websocket (resyncing on
// a gap) and schedules the renders; the rest is in modules, one job each, every one of them
// textContent only, never innerHTML: board-format (helpers), board-model (the state summed
// up, thresholds), board-clock (server time, timers), board-render (queue tiles, PBX links),
// board-people (callers, agents), board-alerts (alert strip, chime, notifications) and
// board-tv (the TV layout).

// The modules load with this script's ?v= (the release: see templates/wallboard.html), and
// each passes it on to its own imports, so an upgrade never runs a cached module of the last
// release. Imported all at once here, so that they load side by side.
const v = new URL(import.meta.url).search;
const [
  { $, formatDuration, mergePatch, remember, setText, setToggle, STORAGE, stored },
  { agentsOf, callersOf, groupAgents, orderQueues, useThresholds },
  { noteServerTime, tickTimers },
  { renderConnection, renderQueues, useShortLabels },
  { renderSupervisorLists },
  { alertStats, alertingQueues, announce, firingSubjects, renderAlerts, wireAlertButtons },
  { currentPage, layoutTv, scheduleLayout, startTv, tileOverflows },
] = await Promise.all(
  ["format", "model", "clock", "render", "people", "alerts", "tv"].map((name) => import(`./board-${name}.js${v}`)),
);

export { mergePatch }; // the entry point's export, as before the split

const config = JSON.parse(document.body.dataset.config || "{}");
const heartbeat = Number(config.heartbeat) || 15;
const params = new URLSearchParams(location.search);
const VIEW = config.view || "all";
const TV = VIEW === "tv";
const ROTATE = TV ? Number(config.rotate) || 0 : 0; // seconds per page, 0: one page
const MAX_BACKOFF = 5000;

useThresholds(config.thresholds);
useShortLabels(TV);

// ---------------------------------------------------------------------------- preferences

// ?hide=loggedoff beats what this screen remembers (config.hide is null without it in the URL).
let hideLoggedOff = typeof config.hide === "string" ? config.hide === "loggedoff" : stored(STORAGE.hide) === "loggedoff";

// ---------------------------------------------------------------------------- rendering

let state = null;
// What the last render worked out, for the TV layout to cut to size.
const board = { names: [], callers: [], agents: [], groups: [], subjects: [] };

function render() {
  if (!state) return;
  const queues = state.queues || {};
  renderConnection(state.connection, state.pbxs || {});
  const subjects = firingSubjects(state.alerts);
  const alerting = alertingQueues(subjects);
  const names = orderQueues(queues, alerting);
  renderQueues(queues, names, alerting, state.pbxs || {});
  board.names = names;
  board.subjects = subjects;
  board.callers = callersOf(names, queues);
  board.agents = agentsOf(names, queues, hideLoggedOff);
  board.groups = groupAgents(board.agents);
  announce(subjects, queues);
  if (TV) layoutTv();
  else {
    renderAlerts(subjects, queues);
    renderSupervisorLists(board.callers, board.agents);
  }
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

// ---------------------------------------------------------------------------- the screen's buttons

// "Hide logged off" (the chime and "Notify me" are board-alerts').
function showHideToggle() {
  setToggle($("hide-off-toggle"), hideLoggedOff);
}

function toggleHideLoggedOff() {
  hideLoggedOff = !hideLoggedOff;
  remember(STORAGE.hide, hideLoggedOff ? "loggedoff" : "none");
  // The address says it too (it wins on a reload).
  params.set("hide", hideLoggedOff ? "loggedoff" : "none");
  history.replaceState(history.state, "", `${location.pathname}?${params}${location.hash}`);
  showHideToggle();
  render();
}

function wireButtons() {
  $("hide-off-toggle")?.addEventListener("click", toggleHideLoggedOff);
  showHideToggle();
  wireAlertButtons(config.display);
}

// ---------------------------------------------------------------------------- timers

// Once a second: timers, their colours, the clock and the freshness marker.
function tick() {
  tickTimers();
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

document.documentElement.classList.toggle("tv", TV);
wireButtons();
if (TV) startTv({ board, getState: () => state, tick, rotate: ROTATE });
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
  if (TV && tileOverflows()) scheduleLayout(); // a timer grew wider than its tile
  setTimeout(every, 1000 - (Date.now() % 1000) + 5);
}, 1000 - (Date.now() % 1000));
tick();
window.wallboard = {
  get state() {
    return state;
  },
  get seq() {
    return seq;
  },
  get epoch() {
    return epoch;
  },
  get page() {
    return currentPage();
  },
  alerts: alertStats,
};
