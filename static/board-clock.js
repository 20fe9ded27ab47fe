// Server time (the clock skew, from the messages' `now`) and the tick of every timer on the page.
// DOM nodes and textContent only, never innerHTML.

// This module's ?v= (the release) goes on its imports too (see wallboard.js).
const v = new URL(import.meta.url).search;
const [{ $, formatDuration, setLevel, setText }, { waitLevel, worst }] = await Promise.all([
  import(`./board-format.js${v}`),
  import(`./board-model.js${v}`),
]);

// ---------------------------------------------------------------------------- server time

const skewSamples = [];
let skew = 0; // server clock minus browser clock, seconds

export function noteServerTime(now) {
  if (typeof now !== "number") return;
  // A message is never older than its `now`: the largest recent offset is the closest.
  skewSamples.push(now - Date.now() / 1000);
  if (skewSamples.length > 16) skewSamples.shift();
  skew = Math.max(...skewSamples);
}

const serverNow = () => Date.now() / 1000 + skew;

// ---------------------------------------------------------------------------- timers

function tickTimer(node, now) {
  const since = Number(node.dataset.since);
  const idle = !node.dataset.since || !(since > 0);
  node.classList.toggle("zero", idle);
  if (idle) {
    if (node.dataset.level) setLevel(node, "");
    if (node.classList.contains("longest")) setText(node, "0:00");
    return;
  }
  const seconds = Math.max(0, now - since);
  setText(node, formatDuration(seconds));
  if (node.dataset.level === "wait") setLevel(node, waitLevel(seconds));
}

// Wrap-up counts down to its end, then goes.
function tickCountdown(node, now) {
  const left = Number(node.dataset.until) - now;
  const running = Boolean(node.dataset.until) && left > 0;
  node.hidden = !running;
  setText(node, running ? `Wrap-up ${formatDuration(Math.ceil(left))}` : "");
}

// Timers, their colours and the clock, at the server's time now.
export function tickTimers() {
  const now = serverNow();
  for (const node of document.querySelectorAll(".timer")) tickTimer(node, now);
  for (const node of document.querySelectorAll(".countdown")) tickCountdown(node, now);
  for (const tile of document.querySelectorAll(".queue")) {
    const longest = tile.querySelector(".longest");
    const waitNow = longest.dataset.since ? waitLevel(now - Number(longest.dataset.since)) : "";
    const level = worst(waitNow, tile.dataset.staticLevel || "");
    tile.classList.toggle("level-warn", level === "warn");
    tile.classList.toggle("level-alert", level === "alert");
  }
  setText($("clock"), new Date(now * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }));
}
