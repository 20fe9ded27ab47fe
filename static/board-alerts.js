// Alerts: what is firing, the alert strip, and the chime and desktop notification when one starts.
// DOM nodes and textContent only, never innerHTML.

// This module's ?v= (the release) goes on its imports too (see wallboard.js).
const v = new URL(import.meta.url).search;
const [
  { $, collator, el, formatDuration, formatNumber, formatShare, isObject, remember, setSince, setText, setToggle, STORAGE, stored },
  { queueLabel, summarize },
  { cut, moreKey, reconcile },
] = await Promise.all([import(`./board-format.js${v}`), import(`./board-model.js${v}`), import(`./board-render.js${v}`)]);

// ---------------------------------------------------------------------------- alerts (model)

const METRICS = {
  waiting: { words: "waiting", format: formatNumber },
  longest_wait: { words: "longest wait", format: formatDuration },
  service_level: { words: "service level", format: formatShare },
  abandon_rate: { words: "abandon rate", format: formatShare },
  available: { words: "available", format: formatNumber },
  paused: { words: "paused", format: (minutes) => `${formatNumber(Math.floor(minutes))} min` },
  pbx_down: { words: "PBX link down", format: null },
};

// Every subject firing now, oldest first: {key, rule, subject, def, info}.
export function firingSubjects(alerts) {
  const found = [];
  for (const [rule, def] of Object.entries(alerts || {})) {
    if (!isObject(def) || !isObject(def.subjects)) continue;
    for (const [subject, info] of Object.entries(def.subjects)) {
      if (isObject(info)) found.push({ key: `${rule}\u0000${subject}`, rule, subject, def, info });
    }
  }
  return found.sort((a, b) => (a.info.since || 0) - (b.info.since || 0) || collator.compare(a.key, b.key));
}

export function alertingQueues(subjects) {
  return new Set(subjects.map((item) => item.info.queue).filter(Boolean));
}

function alertSubjectLabel(item, queues) {
  const { queue, agent, pbx } = item.info;
  if (agent) return String(agent);
  if (queue) return queueLabel(queue, queues[queue]).title;
  if (pbx) return String(pbx);
  return item.rule;
}

// {label, words, value, limit} of one firing subject: "Sales: longest wait 3:12 (above 2:00)".
function alertParts(item, queues) {
  const metric = METRICS[item.def.metric] || { words: String(item.def.metric || item.rule), format: formatNumber };
  const label = alertSubjectLabel(item, queues);
  if (!metric.format) return { label, words: metric.words, value: "", limit: "" };
  const value = Number(item.info.value);
  const threshold = Number(item.def.threshold);
  const clear = Number(item.def.clear);
  const below = item.def.op === "below";
  // Back on the right side of its level but not yet at its clear level (the hysteresis): say
  // what it waits for, not a level the value no longer passes.
  const past = below ? value < threshold : value > threshold;
  let limit = "";
  if (Number.isFinite(threshold)) {
    limit = past || !Number.isFinite(clear)
      ? `(${below ? "below" : "above"} ${metric.format(threshold)})`
      : `(clears at ${metric.format(clear)})`;
  }
  return { label, words: metric.words, value: Number.isFinite(value) ? metric.format(value) : "", limit };
}

function alertText(item, queues) {
  const parts = alertParts(item, queues);
  return `${parts.label}: ${[parts.words, parts.value, parts.limit].filter(Boolean).join(" ")}`;
}

// A longest-wait alert of a queue with callers counts up live, from its oldest caller.
function liveWaitSince(item, queues) {
  if (item.def.metric !== "longest_wait" || !item.info.queue) return 0;
  const queue = queues[item.info.queue];
  return queue ? summarize(queue).oldest || 0 : 0;
}

// ---------------------------------------------------------------------------- the alert strip

// "Sales: longest wait 3:12 (above 2:00) · for 0:42", the value and the time live.
function createAlertItem(item) {
  if (item.more) return el("li", "alert-item alert-more");
  const node = el("li", "alert-item");
  const since = el("span", "alert-since", " · for ");
  since.append(el("span", "alert-timer timer"));
  const amount = el("span", "alert-amount", " ");
  amount.append(el("span", "alert-value"));
  node.append(el("span", "alert-label"), " ", el("span", "alert-words"), amount, el("span", "alert-limit"), since);
  return node;
}

// " text", or nothing (with its space) when there is no text.
function setPart(node, text) {
  setText(node, text ? ` ${text}` : "");
}

function updateAlertItem(node, item, queues) {
  if (item.more) {
    setText(node, `+${item.more} more`);
    return;
  }
  const parts = alertParts(item, queues);
  node.dataset.alert = item.rule;
  node.dataset.subject = item.subject;
  node.title = alertText(item, queues);
  setText(node.querySelector(".alert-label"), `${parts.label}:`);
  setText(node.querySelector(".alert-words"), parts.words);
  const value = node.querySelector(".alert-value");
  const live = liveWaitSince(item, queues);
  value.classList.toggle("timer", live > 0);
  setSince(value, live);
  if (!live) setText(value, parts.value);
  const amount = node.querySelector(".alert-amount");
  amount.hidden = !live && !parts.value;
  amount.firstChild.data = amount.hidden ? "" : " "; // the space before the value
  setPart(node.querySelector(".alert-limit"), parts.limit);
  setSince(node.querySelector(".alert-timer"), Number(item.info.since) || 0);
}

// The strip: the first `capacity` subjects (then "+N more"); `queues` the live state's.
export function renderAlerts(subjects, queues, capacity = subjects.length) {
  const update = (node, item) => updateAlertItem(node, item, queues);
  reconcile($("alerts-list"), cut(subjects, capacity), (item) => moreKey(item) ?? item.key, createAlertItem, update);
  $("alerts").hidden = subjects.length === 0;
}

// ---------------------------------------------------------------------------- alerts: sound, notifications

export const alertStats = { chimes: 0, notifications: 0, asked: 0 };
let knownAlerts = null; // the subjects firing at the last render; null before the first state
let audio = null;
let chimeOn = stored(STORAGE.chime) === "on";
let displayScreen = false; // a display link's screen (config.display): it never notifies

// Subjects that started firing since the last render (none on the first: they started before).
function newlyFiring(subjects) {
  const fresh = knownAlerts === null ? [] : subjects.filter((item) => !knownAlerts.has(item.key));
  knownAlerts = new Set(subjects.map((item) => item.key));
  return fresh;
}

// Called on every render with the subjects firing and the live state's queues.
export function announce(subjects, queues) {
  const fresh = newlyFiring(subjects);
  if (!fresh.length) return;
  if (chimeOn) chime();
  notify(fresh, queues);
}

// Two short sine notes, synthesised (no audio file).
function tone(context, frequency, start, length) {
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  const at = context.currentTime + start;
  oscillator.type = "sine";
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0.0001, at);
  gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, at + length);
  oscillator.connect(gain).connect(context.destination);
  oscillator.start(at);
  oscillator.stop(at + length + 0.05);
}

function audioContext() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!audio && Context) audio = new Context();
  if (audio && audio.state === "suspended") audio.resume().catch(() => {});
  return audio;
}

function chime() {
  alertStats.chimes += 1;
  try {
    const context = audioContext();
    if (!context) return;
    tone(context, 880, 0, 0.18);
    tone(context, 660, 0.2, 0.3);
  } catch (error) {
    console.warn("wallboard: no chime", error);
  }
}

function notificationsWanted() {
  return !displayScreen && "Notification" in window && Notification.permission === "granted" && stored(STORAGE.notify) === "on";
}

function notify(subjects, queues) {
  if (!notificationsWanted()) return;
  for (const item of subjects) {
    try {
      new Notification("Wallboard alert", { body: alertText(item, queues), tag: item.key });
      alertStats.notifications += 1;
    } catch (error) {
      console.warn("wallboard: no notification", error);
    }
  }
}

// ---------------------------------------------------------------------------- the buttons: chime, notify me

function showChimeToggle() {
  setToggle($("chime-toggle"), chimeOn);
}

function showNotifyToggle() {
  const button = $("notify-toggle");
  if (!button) return;
  if (!("Notification" in window)) {
    button.hidden = true;
    return;
  }
  setToggle(button, notificationsWanted());
}

function toggleChime() {
  chimeOn = !chimeOn;
  remember(STORAGE.chime, chimeOn ? "on" : "off");
  if (chimeOn) audioContext(); // made on a click, so the browser lets it play later
  showChimeToggle();
}

async function toggleNotifications() {
  if (displayScreen) return; // a TV never asks
  if (notificationsWanted()) {
    remember(STORAGE.notify, "off");
  } else {
    if (Notification.permission !== "granted") {
      alertStats.asked += 1;
      await Notification.requestPermission();
    }
    if (Notification.permission === "granted") remember(STORAGE.notify, "on");
  }
  showNotifyToggle();
}

// Once at start; `display` is config.display (a display link's screen).
export function wireAlertButtons(display) {
  displayScreen = display;
  $("chime-toggle")?.addEventListener("click", toggleChime);
  $("notify-toggle")?.addEventListener("click", toggleNotifications);
  showChimeToggle();
  showNotifyToggle();
}
