// The TV layout: everything sized to the viewport, lists cut to fit ("+N more"), ?rotate= pages.
// DOM nodes and textContent only, never innerHTML.

// This module's ?v= (the release) goes on its imports too (see wallboard.js).
const v = new URL(import.meta.url).search;
const [
  { $, el, setText },
  { cut, moreKey, reconcile },
  { createAgentChip, createCallerRow, renderCallerRows, showCallerCount, updateAgentChip, updateCallerRow },
  { renderAlerts },
] = await Promise.all([
  import(`./board-format.js${v}`),
  import(`./board-render.js${v}`),
  import(`./board-people.js${v}`),
  import(`./board-alerts.js${v}`),
]);

// A compact tile's size at a font size of 1px (see ".view-tv .queue" in wallboard.css).
const TILE_EM = { width: 17, height: 8.2 };
const TILE_MIN_FONT = 12; // px: a rotating board spreads smaller tiles over several pages
const TILE_MAX_SCALE = 2.4; // × the page's font: the tiles of a small centre stop growing
const TILE_SHARE = { all: 0.5, queues: 0.62 }; // of the board's height, at most
const CALLER_MIN_EM = 18; // a waiting caller's row, at least
const CHIP_MIN_EM = 11; // an agent chip, at least

let pageIndex = 0;

// What startTv is given: what the last render worked out ({names, callers, agents, groups,
// subjects}, refilled by every render), the live state, the tick to run after a layout and
// the seconds per page (0: one page).
let board = { names: [], callers: [], agents: [], groups: [], subjects: [] };
let getState = () => null;
let tick = () => {};
let rotate = 0;

// Once at start, on a TV: {board, getState, tick, rotate} as above.
export function startTv(options) {
  board = options.board;
  getState = options.getState;
  tick = options.tick;
  rotate = options.rotate;
  // The board's size changes with the window, the banners and the alert strip.
  new ResizeObserver(scheduleLayout).observe($("board"));
  if (rotate) setInterval(nextPage, rotate * 1000);
}

// The page shown now (0 first), for the page's test hooks.
export function currentPage() {
  return pageIndex;
}

function px(value) {
  return parseFloat(value) || 0;
}

// The content box of a node.
function innerBox(node) {
  const style = getComputedStyle(node);
  return {
    width: node.clientWidth - px(style.paddingLeft) - px(style.paddingRight),
    height: node.clientHeight - px(style.paddingTop) - px(style.paddingBottom),
    rowGap: px(style.rowGap),
    columnGap: px(style.columnGap),
    font: px(style.fontSize),
  };
}

// ---------------------------------------------------------------------------- queue tiles and pages

// The best grid for tiles in groups of `sizes` (one group without PBX headings): the
// column count giving the largest font, and that font.
function planTiles(sizes, width, height, gap, headHeight, maxFont) {
  const heads = sizes.length > 1 || headHeight > 0 ? sizes.length : 0;
  let best = null;
  for (let cols = 1; cols <= Math.max(1, ...sizes); cols += 1) {
    const rows = sizes.reduce((sum, n) => sum + Math.ceil(n / cols), 0);
    const byWidth = (width - (cols - 1) * gap) / cols / TILE_EM.width;
    const byHeight = (height - heads * headHeight - (rows - 1 + heads) * gap) / rows / TILE_EM.height;
    const font = Math.min(byWidth, byHeight, maxFont);
    if (!best || font > best.font + 0.01 || (Math.abs(font - best.font) <= 0.01 && rows < best.rows)) best = { cols, rows, font };
  }
  return best;
}

// The tile count per page a rotating board can show at TILE_MIN_FONT or more.
function tilesPerPage(count, width, height, gap, headHeight, maxFont) {
  let fit = count;
  while (fit > 1 && planTiles([fit], width, height, gap, headHeight, maxFont).font < TILE_MIN_FONT) fit -= 1;
  return fit;
}

// The pages of a TV: one without ?rotate=; else the queues (in pages of tiles that stay
// readable) with the waiting callers, then the agents.
function tvPages(box, gap, headHeight, maxFont) {
  const count = board.names.length;
  if (!rotate) return [{ kind: "all", from: 0, to: count }];
  const perPage = count ? tilesPerPage(count, box.width, box.height * TILE_SHARE.queues, gap, headHeight, maxFont) : 1;
  const chunks = Math.max(1, Math.ceil(count / perPage));
  const size = Math.ceil(count / chunks);
  const pages = [];
  for (let i = 0; i < chunks; i += 1) pages.push({ kind: "queues", from: i * size, to: Math.min(count, (i + 1) * size), part: i + 1, parts: chunks });
  pages.push({ kind: "agents", from: 0, to: 0 });
  return pages;
}

function showPage(page, pages) {
  for (const kind of ["all", "queues", "agents"]) document.body.classList.toggle(`tv-page-${kind}`, page.kind === kind);
  const pill = $("page");
  pill.hidden = pages.length < 2;
  pill.dataset.page = String(pages.indexOf(page) + 1);
  pill.dataset.kind = page.kind;
  const what = page.kind === "agents" ? "Agents" : page.parts > 1 ? `Queues ${page.part}/${page.parts}` : "Queues";
  setText(pill, `${what} · page ${pages.indexOf(page) + 1} of ${pages.length}`);
}

// The tiles of this page show, the others wait for theirs; returns the tile count of each
// grid shown (one per PBX group).
function showTiles(page) {
  const queues = $("queues");
  const onPage = new Set(board.names.slice(page.from, page.to));
  for (const tile of queues.querySelectorAll(".queue")) tile.hidden = !onPage.has(tile.dataset.queue);
  for (const group of queues.querySelectorAll(".pbx-group")) group.hidden = !group.querySelector(".queue:not([hidden])");
  const grids = queues.classList.contains("grouped") ? [...queues.querySelectorAll(".pbx-group:not([hidden]) > .pbx-queues")] : [queues];
  return grids.map((grid) => grid.querySelectorAll(":scope > .queue:not([hidden])").length);
}

function applyTilePlan(plan, gap) {
  const queues = $("queues");
  queues.style.setProperty("--tile-cols", String(plan.cols));
  queues.style.setProperty("--tile-font", `${plan.font.toFixed(2)}px`);
  queues.style.setProperty("--tile-h", `${(plan.font * TILE_EM.height).toFixed(2)}px`);
  queues.style.setProperty("--tile-gap", `${gap}px`);
}

export function tileOverflows() {
  for (const tile of $("queues").querySelectorAll(".queue:not([hidden])")) {
    if (tile.scrollHeight > tile.clientHeight + 1 || tile.scrollWidth > tile.clientWidth + 1) return true;
  }
  return false;
}

// Size the tiles of this page to the board; returns nothing, the grid takes its height.
function fitTiles(page, box, gap, headHeight, maxFont) {
  const sizes = showTiles(page).filter((n) => n > 0);
  if (!sizes.length) return;
  const share = page.kind === "queues" ? TILE_SHARE.queues : TILE_SHARE.all;
  const plan = planTiles(sizes, box.width, box.height * share, gap, headHeight, maxFont);
  applyTilePlan(plan, gap);
  for (let i = 0; i < 8 && tileOverflows(); i += 1) {
    plan.font *= 0.94; // the estimate was generous for these texts
    applyTilePlan(plan, gap);
  }
}

// ---------------------------------------------------------------------------- lists cut to fit

// How many items of `height` px in columns of at least `minWidth` px fit in `container`.
function gridCapacity(container, itemHeight, minWidth) {
  const box = innerBox(container);
  const rows = Math.max(0, Math.floor((box.height + box.rowGap) / (itemHeight + box.rowGap)));
  const cols = Math.max(1, Math.floor((box.width + box.columnGap) / (minWidth + box.columnGap)));
  return { rows, cols };
}

// The height of one item as `create` and `update` make it, measured inside `container`
// (out of its flow, so that a full container cannot squeeze it).
function probeHeight(container, create, update, item) {
  const node = create(item);
  update(node, item);
  node.style.visibility = "hidden";
  node.style.position = "absolute";
  container.append(node);
  const height = node.getBoundingClientRect().height;
  node.remove();
  return height;
}

const SAMPLE_CALLER = { queue: "q", uniqueid: "probe", caller: { callerid_name: "Sample", callerid_num: "1", position: 1, since: 1 }, queueLabel: "Sample" };

function fitCallers() {
  const list = $("callers");
  const callers = board.callers;
  $("callers-more").hidden = true;
  showCallerCount(callers.length);
  if (!callers.length || !list.offsetParent) {
    renderCallerRows([]);
    return;
  }
  const rowHeight = probeHeight(list, createCallerRow, updateCallerRow, SAMPLE_CALLER);
  const fontSize = innerBox(list).font;
  const { rows, cols } = gridCapacity(list, rowHeight, CALLER_MIN_EM * fontSize);
  list.style.setProperty("--rows", String(Math.max(1, rows)));
  list.style.setProperty("--cols", String(cols));
  let capacity = rows * cols;
  renderCallerRows(cut(callers, capacity));
  while (capacity > 0 && (list.scrollHeight > list.clientHeight + 1 || list.scrollWidth > list.clientWidth + 1)) {
    capacity -= 1; // a row came out taller than the sample
    renderCallerRows(cut(callers, capacity));
  }
}

// Rows for each group (its heading takes the first place): one each, then the rest shared
// in proportion to what each needs (D'Hondt), as long as there are rows.
function shareRows(needs, available) {
  const rows = needs.map(() => 0);
  let left = available;
  for (let i = 0; i < needs.length && left > 0; i += 1) {
    rows[i] = 1;
    left -= 1;
  }
  while (left > 0) {
    let best = -1;
    for (let i = 0; i < needs.length; i += 1) {
      if (rows[i] < needs[i] && (best < 0 || needs[i] / (rows[i] + 1) > needs[best] / (rows[best] + 1))) best = i;
    }
    if (best < 0) break;
    rows[best] += 1;
    left -= 1;
  }
  return rows;
}

function createGroupBand() {
  return el("section", "agent-group");
}

// One group: its heading, the chips that fit in its rows, "+N more" for the rest.
function updateGroupBand(band, { group, places, queues }) {
  band.dataset.group = group.state;
  band.dataset.count = String(group.agents.length);
  band.className = `agent-group group-${group.state}`;
  const chips = cut(group.agents, Math.max(0, places - 1)).map((item) => (item.more ? item : { agent: item }));
  const items = places > 0 ? [{ head: group }, ...chips] : [];
  band.hidden = items.length === 0;
  const update = (node, item) => updateAgentChip(node, item, queues);
  reconcile(band, items, (item) => (item.head ? "\u0000head" : moreKey(item) ?? item.agent.iface), createAgentChip, update);
}

function renderGroups(groups, cols, rows, queues) {
  const needs = groups.map((group) => Math.ceil((group.agents.length + 1) / cols));
  const shares = shareRows(needs, rows);
  const bands = groups.map((group, i) => ({ group, places: shares[i] * cols, queues }));
  reconcile($("agent-groups"), bands, (band) => band.group.state, createGroupBand, updateGroupBand);
}

function agentSummary(groups) {
  return groups.map((group) => `${group.label} ${group.agents.length}`).join(" · ");
}

const SAMPLE_CHIP = { agent: { iface: "probe", name: "Sample", state: "paused", reason: "Sample", queues: [], since: 1, wrapupUntil: 0 } };

function fitAgentGroups(queues) {
  const container = $("agent-groups");
  const groups = board.groups;
  setText($("agents-count"), agentSummary(groups));
  $("agents-empty").hidden = board.agents.length > 0;
  if (!groups.length || !container.offsetParent) {
    reconcile(container, [], () => "", createGroupBand, updateGroupBand);
    return;
  }
  const chipHeight = probeHeight(container, createAgentChip, (node, item) => updateAgentChip(node, item, queues), SAMPLE_CHIP);
  const { rows, cols } = gridCapacity(container, chipHeight, CHIP_MIN_EM * innerBox(container).font);
  container.style.setProperty("--cols", String(cols));
  let fit = rows;
  renderGroups(groups, cols, fit, queues);
  while (fit > 0 && container.scrollHeight > container.clientHeight + 1) {
    fit -= 1;
    renderGroups(groups, cols, fit, queues);
  }
}

// The alert strip is one line on a TV: the oldest alerts, then "+N more".
function fitAlerts(queues) {
  const subjects = board.subjects;
  renderAlerts(subjects, queues);
  const list = $("alerts-list");
  if (list.scrollWidth <= list.clientWidth + 1) return;
  const right = list.getBoundingClientRect().right;
  let capacity = [...list.children].filter((item) => item.getBoundingClientRect().right <= right + 1).length;
  renderAlerts(subjects, queues, capacity);
  while (capacity > 0 && list.scrollWidth > list.clientWidth + 1) {
    capacity -= 1; // "+N more" came out wider than the alert it replaced
    renderAlerts(subjects, queues, capacity);
  }
}

// ---------------------------------------------------------------------------- the layout

let layingOut = false;

export function layoutTv() {
  const state = getState();
  if (!state || layingOut) return;
  layingOut = true;
  try {
    const queues = state.queues || {};
    fitAlerts(queues);
    const main = $("board");
    const box = innerBox(main);
    const gap = box.rowGap;
    const head = document.querySelector(".pbx-head");
    const headHeight = $("queues").classList.contains("grouped") && head ? head.getBoundingClientRect().height : 0;
    const maxFont = box.font * TILE_MAX_SCALE;
    const pages = tvPages(box, gap, headHeight, maxFont);
    pageIndex %= pages.length;
    const page = pages[pageIndex];
    showPage(page, pages);
    fitTiles(page, box, gap, headHeight, maxFont);
    fitCallers();
    fitAgentGroups(queues);
  } finally {
    layingOut = false;
  }
}

let layoutPending = false;

export function scheduleLayout() {
  if (layoutPending) return;
  layoutPending = true;
  requestAnimationFrame(() => {
    layoutPending = false;
    layoutTv();
    tick();
  });
}

function nextPage() {
  pageIndex += 1;
  scheduleLayout();
}
