// The report pages' behaviour: charts (Chart.js, shipped beside this file), sortable tables,
// the period picker. The numbers come from the page itself (server-rendered); nothing here
// uses innerHTML.

const css = getComputedStyle(document.documentElement);
const palette = ["--chart-1", "--chart-2", "--chart-3", "--chart-4"].map((name) => css.getPropertyValue(name).trim() || "#60a5fa");
const charts = [];
const printing = window.matchMedia("print");

function colours(print) {
  return { text: print ? "#111" : css.getPropertyValue("--text").trim() || "#e5e7eb", grid: print ? "#ccc" : "rgba(255,255,255,0.08)" };
}

function drawChart(canvas) {
  let spec;
  try {
    spec = JSON.parse(canvas.dataset.chart || "null");
  } catch {
    return;
  }
  if (!spec || typeof Chart === "undefined") return;
  const { text, grid } = colours(printing.matches);
  const horizontal = spec.kind === "hbar";
  const line = spec.kind === "line" && spec.labels.length > 2; // a line of one or two days is dots
  const chart = new Chart(canvas, {
    type: line ? "line" : "bar",
    data: {
      labels: spec.labels,
      datasets: spec.series.map((series, n) => ({
        label: series.label,
        data: series.data,
        backgroundColor: palette[n % palette.length],
        borderColor: palette[n % palette.length],
        tension: 0.25,
      })),
    },
    options: {
      indexAxis: horizontal ? "y" : "x",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { labels: { color: text } } },
      scales: {
        x: { stacked: spec.stacked, ticks: { color: text }, grid: { color: grid } },
        y: { stacked: spec.stacked, ticks: { color: text }, grid: { color: grid }, beginAtZero: true },
      },
    },
  });
  charts.push(chart);
}

function recolour(print) {
  const { text, grid } = colours(print);
  for (const chart of charts) {
    chart.options.plugins.legend.labels.color = text;
    for (const axis of Object.values(chart.options.scales)) {
      axis.ticks.color = text;
      axis.grid.color = grid;
    }
    chart.update();
  }
}

function cellValue(row, index, numeric) {
  const text = row.cells[index] ? row.cells[index].textContent.trim() : "";
  if (!numeric) return text;
  const number = parseFloat(text);
  return Number.isNaN(number) ? -Infinity : number;
}

function sortable(table) {
  const heads = table.tHead ? [...table.tHead.rows[0].cells] : [];
  heads.forEach((th, index) => {
    th.tabIndex = 0;
    th.setAttribute("aria-sort", "none");
    const sort = () => {
      const body = table.tBodies[0];
      const rows = [...body.rows];
      const numeric = rows.some((row) => row.cells[index] && row.cells[index].classList.contains("n"));
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      rows.sort((a, b) => {
        const x = cellValue(a, index, numeric);
        const y = cellValue(b, index, numeric);
        const order = numeric ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
        return ascending ? order : -order;
      });
      heads.forEach((other) => other.setAttribute("aria-sort", "none"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      body.append(...rows);
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        sort();
      }
    });
  });
}

const period = document.getElementById("period");
if (period) {
  period.addEventListener("change", () => {
    if (period.value !== "custom") period.form.requestSubmit();
  });
  for (const input of period.form.querySelectorAll('input[type="date"]')) {
    input.addEventListener("change", () => {
      period.value = "custom";
    });
  }
}

document.querySelectorAll("canvas.chart-canvas").forEach(drawChart);
document.querySelectorAll("table.sortable").forEach(sortable);
// Dark text on paper: printing (or a print preview) redraws the charts in print colours.
window.addEventListener("beforeprint", () => recolour(true));
window.addEventListener("afterprint", () => recolour(false));
printing.addEventListener("change", (event) => recolour(event.matches));
