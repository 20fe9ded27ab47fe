// The model: the state's queues, agents and waiting callers as the board shows them; thresholds.
// No DOM here (the modules that draw use textContent only, never innerHTML).

// This module's ?v= (the release) goes on its imports too (see wallboard.js).
const v = new URL(import.meta.url).search;
const { collator, isObject, known } = await import(`./board-format.js${v}`);

export const STATE_LABELS = {
  incall: "In call",
  ringing: "Ringing",
  busy: "Busy",
  available: "Available",
  paused: "Paused",
  off: "Logged off",
};
// Which membership speaks for an agent in several queues.
const STATE_RANK = { incall: 6, ringing: 5, busy: 4, available: 3, paused: 2, off: 1 };
// The TV's agent groups, in this order.
const GROUP_ORDER = ["incall", "ringing", "busy", "available", "paused", "off"];

// ---------------------------------------------------------------------------- thresholds

let limits = {};

// The page's thresholds (config.thresholds), given once at start.
export function useThresholds(thresholds) {
  limits = thresholds || {};
}

export function waitLevel(seconds) {
  if (seconds >= limits.alert_wait) return "alert";
  if (seconds >= limits.warn_wait) return "warn";
  return "";
}

export function serviceLevelLevel(percent) {
  if (percent === null) return "";
  if (percent < limits.alert_sl) return "alert";
  if (percent < limits.warn_sl) return "warn";
  return "";
}

export function abandonLevel(percent) {
  if (percent === null) return "";
  if (percent >= limits.alert_abandon) return "alert";
  if (percent >= limits.warn_abandon) return "warn";
  return "";
}

export function worst(...levels) {
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
export function summarize(queue) {
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

// The name a queue is shown by: its display name, else its id (without the PBX in a group).
export function queueLabel(name, queue, prefix = "") {
  const id = prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name;
  const shown = queue && typeof queue.display_name === "string" ? queue.display_name.trim() : "";
  return { title: shown || id, id: shown && shown !== id ? id : "" };
}

// Tiles in the board's order: alerting queues first, then by queue id.
export function orderQueues(queues, alerting) {
  return Object.keys(queues).sort((a, b) => alerting.has(b) - alerting.has(a) || collator.compare(a, b));
}

function newAgent(iface, member) {
  return { iface, name: member.name || iface, queues: [], state: "off", rank: 0, member, reason: "", wrapupUntil: 0, today: null };
}

// Today's figures of one membership: `member.today`, else its queue's `agents_today` entry
// (keyed by the agent's queue_log name); null when neither is there.
function todayOf(queue, member) {
  if (isObject(member.today)) return member.today;
  const figures = isObject(queue.agents_today) ? queue.agents_today[member.name] : null;
  return isObject(figures) ? figures : null;
}

// Figures are per queue: calls, talk and missed rings add up; a pause usually covers every
// queue (PAUSEALL), so the agent's pause time is the longest of its queues'.
function addToday(total, figures) {
  if (!figures) return total;
  const sum = total || { answered: 0, talk: 0, missed: 0, paused: 0 };
  for (const key of ["answered", "talk", "missed"]) sum[key] += Number(figures[key]) || 0;
  sum.paused = Math.max(sum.paused, Number(figures.paused) || 0);
  return sum;
}

function addMembership(agent, queueName, queue, member) {
  agent.queues.push(queueName);
  const state = memberState(member);
  if (STATE_RANK[state] > agent.rank) {
    agent.rank = STATE_RANK[state];
    agent.state = state;
    agent.member = member;
  }
  if (member.paused && member.pause_reason && !agent.reason) agent.reason = member.pause_reason;
  if (Number(member.wrapup_until) > agent.wrapupUntil) agent.wrapupUntil = Number(member.wrapup_until);
  agent.today = addToday(agent.today, todayOf(queue, member));
}

// When the agent's present state began: the call's or the pause's start when known.
function agentSince(agent) {
  const member = agent.member;
  if (agent.state === "off") return 0;
  if (agent.state === "incall" && member.call_since > 0) return member.call_since;
  if (agent.state === "paused") {
    if (member.paused_since > 0) return member.paused_since;
    if (member.last_pause > 0) return member.last_pause;
  }
  return member.since || 0;
}

export function agentCaller(agent) {
  if (agent.state !== "incall") return "";
  const name = known(agent.member.callerid_name);
  const number = known(agent.member.callerid);
  return [name, number].filter(Boolean).join(" · ");
}

// The agents of these queues, one per interface; without the logged-off ones when
// `hideLoggedOff` (the screen's "Hide logged off").
export function agentsOf(names, queues, hideLoggedOff) {
  const agents = new Map();
  for (const queueName of names) {
    for (const [iface, member] of Object.entries(queues[queueName].members || {})) {
      let agent = agents.get(iface);
      if (!agent) {
        agent = newAgent(iface, member);
        agents.set(iface, agent);
      }
      addMembership(agent, queueName, queues[queueName], member);
    }
  }
  const list = [...agents.values()].filter((agent) => !(hideLoggedOff && agent.state === "off"));
  for (const agent of list) agent.since = agentSince(agent);
  return list.sort(
    (a, b) => (a.state === "off") - (b.state === "off") || collator.compare(a.name, b.name) || collator.compare(a.iface, b.iface),
  );
}

// The TV's groups: agents by state, longest in their state first (logged off: by name).
export function groupAgents(agents) {
  const groups = GROUP_ORDER.map((state) => ({ state, label: STATE_LABELS[state], agents: [] }));
  const byState = new Map(groups.map((group) => [group.state, group]));
  for (const agent of agents) byState.get(agent.state).agents.push(agent);
  for (const group of groups) {
    if (group.state !== "off") group.agents.sort((a, b) => (a.since || Infinity) - (b.since || Infinity) || collator.compare(a.name, b.name));
  }
  return groups.filter((group) => group.agents.length > 0);
}

export function callersOf(names, queues) {
  const callers = [];
  for (const name of names) {
    const label = queueLabel(name, queues[name]).title;
    for (const [uniqueid, caller] of Object.entries(queues[name].callers || {})) {
      callers.push({ queue: name, uniqueid, caller, queueLabel: names.length > 1 ? label : "" });
    }
  }
  // Longest wait first.
  return callers.sort((a, b) => (a.caller.since || 0) - (b.caller.since || 0) || collator.compare(a.uniqueid, b.uniqueid));
}
