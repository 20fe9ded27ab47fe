// Draws the queue side: lists kept in step by key, queue tiles, PBX groups, the PBX pill and banner.
// DOM nodes and textContent only, never innerHTML.

// This module's ?v= (the release) goes on its imports too (see wallboard.js).
const v = new URL(import.meta.url).search;
const [
  { $, collator, el, formatClock, formatDuration, formatPercent, setLevel, setSince, setText },
  { abandonLevel, queueLabel, serviceLevelLevel, summarize, worst },
] = await Promise.all([import(`./board-format.js${v}`), import(`./board-model.js${v}`)]);

// ---------------------------------------------------------------------------- lists

// Keeps `container`'s children in step with `items`, reusing nodes by key.
export function reconcile(container, items, keyOf, create, update) {
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

// A list item that is either a row or the closing "+N more".
export const moreKey = (item) => (item.more ? "\u0000more" : null);

// The first `capacity` items, the last place taken by {more: N} when they do not all fit.
export function cut(items, capacity) {
  if (items.length <= capacity) return items;
  if (capacity <= 0) return [];
  return [...items.slice(0, capacity - 1), { more: items.length - capacity + 1 }];
}

// ---------------------------------------------------------------------------- queue tiles

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

// The TV's compact tiles use short labels.
const SHORT_LABELS = { available: "Avail", busy: "Busy", paused: "Paused", off: "Off", answered: "Ans", abandoned: "Aband", rate: "Ab %", sl: "SL", avg: "Avg wait" };
const LONG_LABELS = { available: "Available", busy: "Busy", paused: "Paused", off: "Logged off", answered: "Answered", abandoned: "Abandoned", rate: "Abandon rate", sl: "Service level", avg: "Avg wait" };
let tileLabels = LONG_LABELS;

// On a TV: given once at start, before the first tile is made.
export function useShortLabels(short) {
  tileLabels = short ? SHORT_LABELS : LONG_LABELS;
}

function createQueueTile() {
  const tile = el("article", "tile queue");
  const head = el("header", "tile-head");
  const title = el("h3", "queue-title");
  title.append(el("span", "queue-name"), el("small", "queue-id"));
  head.append(title, el("span", "queue-sl"));
  const kpis = el("div", "kpis");
  const waiting = el("div", "kpi kpi-waiting");
  waiting.append(el("span", "kpi-value waiting", "0"), el("span", "kpi-label", "Waiting"));
  const longest = el("div", "kpi kpi-longest");
  const timer = el("span", "kpi-value longest timer", "—");
  timer.dataset.level = "wait";
  longest.append(timer, el("span", "kpi-label", "Longest wait"));
  kpis.append(waiting, longest);
  const chips = el("div", "chips");
  const labels = tileLabels;
  chips.append(chip(labels.available, "available"), chip(labels.busy, "busy"), chip(labels.paused, "paused"), chip(labels.off, "off"));
  const stats = el("div", "stats");
  stats.append(
    statBox(labels.answered, "answered"),
    statBox(labels.abandoned, "abandoned"),
    statBox(labels.rate, "abandon-rate"),
    statBox(labels.sl, "service-level"),
    statBox(labels.avg, "avg-wait"),
  );
  tile.append(head, kpis, chips, stats);
  return tile;
}

function updateQueueTile(tile, { name, queue, prefix, alerting }) {
  const s = summarize(queue);
  const label = queueLabel(name, queue, prefix);
  tile.dataset.queue = name;
  tile.classList.toggle("alerting", Boolean(alerting));
  setText(tile.querySelector(".queue-name"), label.title);
  const id = tile.querySelector(".queue-id");
  setText(id, label.id);
  id.hidden = !label.id;
  tile.querySelector(".queue-title").title = label.id ? `${label.title} (${label.id})` : label.title;
  setText(tile.querySelector(".queue-sl"), typeof s.slSeconds === "number" ? `SL ${s.slSeconds} s` : "");
  const waiting = tile.querySelector(".waiting");
  setText(waiting, String(s.waiting));
  waiting.classList.toggle("zero", s.waiting === 0);
  setSince(tile.querySelector(".longest"), s.oldest === null ? 0 : s.oldest);
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

// ---------------------------------------------------------------------------- PBX links

function linkWords(info) {
  // One PBX's AMI link and history source, as a pill's class and text.
  if (info.ami === false) return ["pill-ok", "no AMI link"];
  if (info.connected) return ["pill-ok", "linked"];
  if (!(info.since > 0)) return ["pill-warn", "not linked"];
  return ["pill-alert", `link down since ${formatClock(info.since)}`];
}

export function renderConnection(connection, pbxs) {
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

function updatePbxGroup(group, { pbx, info, tiles }) {
  group.dataset.pbx = pbx;
  setText(group.querySelector(".pbx-name"), pbx);
  const [level, words] = linkWords(info);
  const link = group.querySelector(".pbx-link");
  link.className = `pill pbx-link ${level}`;
  link.title = info.error || "";
  setText(link, words);
  setText(group.querySelector(".pbx-history"), info.history_ok === false ? `history: ${info.history_error}` : "");
  group.classList.toggle("down", level === "pill-alert");
  reconcile(group.querySelector(".pbx-queues"), tiles, (item) => item.name, createQueueTile, updateQueueTile);
  group.querySelector(".pbx-queues").hidden = tiles.length === 0;
}

// ---------------------------------------------------------------------------- the queues

// The tiles of `names` (in that order), `alerting` the queues with an alert firing.
export function renderQueues(queues, names, alerting, pbxs) {
  const pbxNames = Object.keys(pbxs).sort(collator.compare);
  // Several PBXs: a group per PBX with its link, so one PBX down never blanks the others.
  const grouped = pbxNames.length > 1;
  const tile = (name, prefix) => ({ name, queue: queues[name], prefix, alerting: alerting.has(name) });
  $("queues").classList.toggle("grouped", grouped);
  if (grouped) {
    const groups = pbxNames.map((pbx) => ({
      pbx,
      info: pbxs[pbx],
      tiles: names.filter((name) => queues[name].pbx === pbx).map((name) => tile(name, `${pbx}/`)),
    }));
    reconcile($("queues"), groups, (group) => `pbx\u0000${group.pbx}`, createPbxGroup, updatePbxGroup);
  } else {
    reconcile($("queues"), names.map((name) => tile(name, "")), (item) => item.name, createQueueTile, updateQueueTile);
  }
  $("queues-empty").hidden = names.length > 0;
}
