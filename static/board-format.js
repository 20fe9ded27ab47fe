// Small helpers: DOM nodes, JSON merge patches, number and time formatting, stored preferences.
// DOM nodes and textContent only, never innerHTML (caller names are attacker-controlled).

export const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------- small helpers

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export function setLevel(node, level) {
  node.classList.toggle("warn", level === "warn");
  node.classList.toggle("alert", level === "alert");
}

export function setSince(node, since) {
  if (since > 0) node.dataset.since = String(since);
  else delete node.dataset.since;
}

export function setToggle(button, on) {
  if (button) button.setAttribute("aria-pressed", on ? "true" : "false");
}

export function isObject(value) {
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

export const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

export function formatDuration(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function formatClock(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function formatPercent(value) {
  return value === null ? "—" : `${value >= 99.95 || value === 0 ? value.toFixed(0) : value.toFixed(1)}%`;
}

export function formatNumber(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export function formatShare(value) {
  return `${formatNumber(Math.round(value * 10) / 10)}%`;
}

// A known caller id part, or "" (Asterisk says "<unknown>" or "unknown").
export function known(text) {
  return text && text !== "<unknown>" && text !== "unknown" ? String(text) : "";
}

// ---------------------------------------------------------------------------- preferences

export const STORAGE = { chime: "wallboard.chime", notify: "wallboard.notify", hide: "wallboard.hide" };

export function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled: nothing is remembered
  }
}

export function remember(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // storage disabled
  }
}
