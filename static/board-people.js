// Draws the people: the waiting callers' rows, the supervisor's agent tiles, the TV's agent chips.
// DOM nodes and textContent only, never innerHTML (caller names are attacker-controlled).

// This module's ?v= (the release) goes on its imports too (see wallboard.js).
const v = new URL(import.meta.url).search;
const [
  { $, el, formatDuration, known, setSince, setText },
  { STATE_LABELS, agentCaller, queueLabel },
  { reconcile, moreKey },
] = await Promise.all([import(`./board-format.js${v}`), import(`./board-model.js${v}`), import(`./board-render.js${v}`)]);

const MAX_CALLERS = 40; // supervisor tabs

// ---------------------------------------------------------------------------- waiting callers

export function createCallerRow(item) {
  if (item.more) return el("li", "caller more-row");
  const row = el("li", "caller");
  const who = el("div", "who");
  who.append(el("span", "caller-name"), el("span", "caller-meta"));
  const wait = el("span", "wait timer", "—");
  wait.dataset.level = "wait";
  row.append(el("span", "pos"), who, wait);
  return row;
}

export function updateCallerRow(row, item) {
  if (item.more) {
    setText(row, `+${item.more} more`);
    return;
  }
  const { queue, uniqueid, caller, queueLabel: shownQueue } = item;
  row.dataset.caller = uniqueid;
  row.dataset.queue = queue;
  const name = known(caller.callerid_name);
  const number = known(caller.callerid_num);
  setText(row.querySelector(".pos"), String(caller.position ?? ""));
  setText(row.querySelector(".caller-name"), name || number || "Unknown caller");
  const meta = [name && number ? number : "", shownQueue].filter(Boolean).join(" · ");
  setText(row.querySelector(".caller-meta"), meta);
  row.querySelector(".wait").dataset.since = String(caller.since || 0);
}

export function renderCallerRows(items) {
  reconcile($("callers"), items, (item) => moreKey(item) ?? `${item.queue}\u0000${item.uniqueid}`, createCallerRow, updateCallerRow);
}

export function showCallerCount(total) {
  $("callers-empty").hidden = total > 0;
  setText($("callers-count"), total ? String(total) : "");
}

// ---------------------------------------------------------------------------- agents

// "Today 12 answered · 1:02:03 talk · 2 missed · 15:00 paused" (nothing without figures).
function todayText(today) {
  if (!today) return "";
  return `Today ${today.answered} answered · ${formatDuration(today.talk)} talk · ${today.missed} missed · ${formatDuration(today.paused)} paused`;
}

// The agent's state in words: "Paused · Coffee break".
function stateText(agent) {
  const label = STATE_LABELS[agent.state];
  return agent.state === "paused" && agent.reason ? `${label} · ${agent.reason}` : label;
}

function createWrapup() {
  const node = el("span", "wrapup countdown");
  node.hidden = true;
  return node;
}

function setWrapup(node, agent) {
  if (agent.wrapupUntil > 0 && agent.state !== "off") node.dataset.until = String(agent.wrapupUntil);
  else {
    delete node.dataset.until;
    node.hidden = true;
  }
}

function setAgentTimer(timer, agent) {
  setSince(timer, agent.since);
  if (!(agent.since > 0)) setText(timer, "");
}

function createAgentTile() {
  const tile = el("div", "agent");
  const top = el("div", "agent-top");
  top.append(el("span", "agent-name"), el("span", "agent-time timer", "—"));
  const line = el("div", "agent-line");
  line.append(el("span", "agent-state"), el("span", "agent-queues"));
  const detail = el("div", "agent-detail");
  detail.append(el("span", "agent-caller"), createWrapup());
  tile.append(top, line, detail, el("div", "agent-today"));
  return tile;
}

function updateAgentTile(tile, agent) {
  tile.dataset.agent = agent.iface;
  tile.dataset.state = agent.state;
  tile.className = `agent state-${agent.state}`;
  setText(tile.querySelector(".agent-name"), agent.name);
  tile.querySelector(".agent-name").title = agent.name === agent.iface ? agent.iface : `${agent.name} (${agent.iface})`;
  setText(tile.querySelector(".agent-state"), stateText(agent));
  setText(tile.querySelector(".agent-queues"), agent.queues.join(" "));
  const caller = agentCaller(agent);
  const callerNode = tile.querySelector(".agent-caller");
  setText(callerNode, caller ? `With ${caller}` : "");
  callerNode.hidden = !caller;
  setWrapup(tile.querySelector(".wrapup"), agent);
  const today = tile.querySelector(".agent-today");
  setText(today, todayText(agent.today));
  today.hidden = !agent.today;
  setAgentTimer(tile.querySelector(".agent-time"), agent);
}

// The TV's agent chip: name and time in state, then what the agent is doing.
function agentChipDetail(agent) {
  if (agent.state === "paused") return agent.reason || "Paused";
  if (agent.state === "incall") return agentCaller(agent) || "In call";
  return "";
}

export function createAgentChip(item) {
  if (item.head) {
    const head = el("div", "group-head");
    head.append(el("span", "group-label"), el("b", "group-count"));
    return head;
  }
  if (item.more) return el("div", "chip-more");
  const chipNode = el("div", "agent-chip");
  const top = el("div", "agent-chip-top");
  top.append(el("span", "agent-chip-name"), el("span", "agent-chip-time timer"));
  const detail = el("div", "agent-chip-detail");
  detail.append(el("span", "agent-chip-text"), createWrapup());
  chipNode.append(top, detail);
  return chipNode;
}

// `queues`: the live state's, for the names of the agent's queues.
export function updateAgentChip(node, item, queues) {
  if (item.head) {
    setText(node.querySelector(".group-label"), item.head.label);
    setText(node.querySelector(".group-count"), String(item.head.agents.length));
    return;
  }
  if (item.more) {
    setText(node, `+${item.more} more`);
    return;
  }
  const agent = item.agent;
  node.dataset.agent = agent.iface;
  node.className = `agent-chip state-${agent.state}`;
  setText(node.querySelector(".agent-chip-name"), agent.name);
  setText(node.querySelector(".agent-chip-text"), agentChipDetail(agent) || agent.queues.map((name) => queueLabel(name, queues[name]).title).join(", "));
  setWrapup(node.querySelector(".wrapup"), agent);
  setAgentTimer(node.querySelector(".agent-chip-time"), agent);
}

// ---------------------------------------------------------------------------- supervisor tabs

// The page grows and scrolls: up to MAX_CALLERS callers, every agent.
export function renderSupervisorLists(callers, agents) {
  const shown = callers.slice(0, MAX_CALLERS);
  renderCallerRows(shown);
  showCallerCount(callers.length);
  const more = $("callers-more");
  more.hidden = callers.length <= shown.length;
  setText(more, `+ ${callers.length - shown.length} more`);
  reconcile($("agents"), agents, (agent) => agent.iface, createAgentTile, updateAgentTile);
  $("agents-empty").hidden = agents.length > 0;
  const ready = agents.filter((agent) => agent.state === "available").length;
  setText($("agents-count"), agents.length ? `${ready} of ${agents.length} available` : "");
}
