// Dashboard: reads the API's JSON and draws it. No external resources: Chart.js is served from /static/vendor.
"use strict";

const fmt = new Intl.NumberFormat("en");
let chart = null;

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(`${response.status}: ${detail || response.statusText}`);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function plural(count, word) { return `${fmt.format(count)} ${word}${count === 1 ? "" : "s"}`; }

function text(id, value) { document.getElementById(id).textContent = value; }

function status(id, message) { text(id, message || ""); }

// One panel: its answer rendered, or the error (a 503 names the job to run) in its status line.
async function panel(statusId, url, render) {
  try { await render(await getJSON(url)); } catch (err) { status(statusId, err.message); }
}

// A table's rows, or the reason there are none in the panel's status line.
function fillTable(tableId, rows, statusId, empty) {
  document.querySelector(`#${tableId} tbody`).replaceChildren(...rows);
  if (!rows.length) status(statusId, empty);
}

// --- GitHub ---
// "humans only" asks for the series without bots (?exclude_bots=true): same shape, human counts.
function humansOnly() { return document.getElementById("kind-select").value === "humans"; }

async function loadRepos() {
  try {
    document.getElementById("kind-select").addEventListener("change", () => {
      const select = document.getElementById("repo-select");
      if (select.value) showRepo(select.value);
    });
    const data = await getJSON("/github/repos");
    text("github-org", `(${data.org})`);
    const select = document.getElementById("repo-select");
    select.replaceChildren(...data.repos.map((r) =>
      el("option", { value: r.repo, "data-total": r.total_contributors, "data-created": r.created_at }, r.repo)));
    select.addEventListener("change", () => showRepo(select.value));
    // Open on the repository with the most contributors: a more telling first chart than "a..." .
    if (data.repos.length) {
      const first = data.repos.reduce((a, b) => (b.total_contributors > a.total_contributors ? b : a));
      select.value = first.repo;
      await showRepo(first.repo);
    }
    else status("github-status", "No repository in this organization.");
  } catch (err) { status("github-status", err.message); }
}

async function showRepo(repo) {
  const canvas = document.getElementById("contributors-chart");
  canvas.dataset.ready = "false";
  try {
    const humans = humansOnly();
    const query = humans ? "?exclude_bots=true" : "";
    const data = await getJSON(`/github/repos/${encodeURIComponent(repo)}/new-contributors${query}`);
    const who = humans ? "human contributors" : "contributors";
    status("github-status", "");
    const months = data.months;
    const last = months.length ? months[months.length - 1].total_contributors : 0;
    text("repo-summary", `${plural(months.length, "month")}, ${plural(last, "contributor")} in total`);
    if (typeof Chart === "undefined") {
      status("github-status", "Chart library missing: run scripts/setup_web.sh");
      return;
    }
    const config = {
      data: {
        labels: months.map((m) => m.month),
        datasets: [
          { type: "bar", label: `new ${who}`, data: months.map((m) => m.new_contributors),
            backgroundColor: "rgba(37, 99, 235, 0.65)", yAxisID: "y", order: 2 },
          { type: "line", label: `total ${who} (cumulative)`, data: months.map((m) => m.total_contributors),
            borderColor: "#f97316", backgroundColor: "#f97316", pointRadius: 2, cubicInterpolationMode: "monotone",
            yAxisID: "y1", order: 1 },
        ],
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          y: { beginAtZero: true, title: { display: true, text: "new" }, ticks: { precision: 0 } },
          y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false },
                title: { display: true, text: "cumulative" }, ticks: { precision: 0 } },
        },
        plugins: { title: { display: true, text: data.repo } },
      },
    };
    if (chart) chart.destroy();
    chart = new Chart(canvas, config);
    canvas.dataset.repo = data.repo;
    canvas.dataset.kind = humans ? "humans" : "all";
    canvas.dataset.points = String(chart.data.labels.length);
    canvas.dataset.ready = "true";
  } catch (err) { status("github-status", err.message); }
}

// --- Wikipedia ---
function article(entry, withTies) {
  if (!entry) return "–";
  const text = `${entry.title} (${plural(entry.views, "view")}${withTies ? `, ${entry.ties} tied` : ""})`;
  return el("span", {}, text);
}

// The most requested article, marked when the day's top flags it, with the best unflagged one.
function mostRequested(day) {
  const cell = el("span", {}, article(day.most_requested, false));
  const first = (day.top || [])[0];
  if (first && day.most_requested && first.title === day.most_requested.title && first.flags.length) {
    cell.append(el("span", { class: "flag", title: "suspicious traffic", "data-flags": first.flags.join(",") },
      `flagged: ${first.flags.join(", ")}`));
    if (day.most_requested_unflagged) {
      cell.append(el("div", { class: "muted" }, "unflagged: ", article(day.most_requested_unflagged, false)));
    }
  }
  return cell;
}

function loadWiki() {
  return panel("wiki-status", "/wikipedia/days", async (list) => {
    text("wiki-name", `(${list.wiki})`);
    const days = await Promise.all(list.days.map((d) =>
      getJSON(`/wikipedia/days/${d}?wiki=${encodeURIComponent(list.wiki)}`)));
    const rows = days.map((d) => el("tr", { "data-day": d.day },
      el("td", {}, d.day),
      el("td", {}, `${d.hours}/24 `, d.complete ? "" : el("span", { class: "badge" }, "incomplete")),
      el("td", {}, mostRequested(d)),
      el("td", {}, article(d.least_requested, true)),
      el("td", {}, el("ol", {}, ...d.top_categories.map((c) =>
        el("li", {}, `${c.category} – ${plural(c.views, "view")}, ${plural(c.articles, "article")}`))))));
    fillTable("wiki-table", rows, "wiki-status", "No day computed yet.");
  });
}

// --- data.gouv.fr ---
function loadTops() {
  return panel("datagouv-status", "/datagouv/tops", (data) => {
    text("datagouv-date", `(run of ${data.run_date})`);
    const rows = data.datasets.map((d) => el("tr", { "data-id": d.dataset_id },
      el("td", {}, d.organization ?? ""),
      el("td", { class: "num" }, d.organization_followers == null ? "" : fmt.format(d.organization_followers)),
      el("td", {}, el("a", { href: `https://www.data.gouv.fr/fr/datasets/${encodeURIComponent(d.dataset_id)}/`,
                               rel: "noopener noreferrer" }, d.title ?? d.dataset_id)),
      el("td", { class: "num" }, d.dataset_followers == null ? "" : fmt.format(d.dataset_followers))));
    fillTable("datagouv-table", rows, "datagouv-status", "No matching dataset in this run.");
  });
}

// --- data.gouv.fr: changes since the previous run ---
function loadChanges() {
  return panel("changes-status", "/datagouv/changes", (data) => getJSON(
    "/datagouv/changes/titles?run_date=" + data.run_date).then((named) => {
    text("changes-dates", data.previous_run_date
      ? `(${data.previous_run_date} → ${data.run_date})` : `(first run: ${data.run_date})`);
    const row = (kind, items, text) => el("tr", { "data-change": kind },
      el("td", {}, kind), el("td", { class: "num" }, fmt.format(items.length)),
      el("td", {}, items.slice(0, 20).map(text).join(", ") + (items.length > 20 ? ", …" : "")));
    const title = (id) => named.titles[id] || id;  // the id where no title was kept
    document.querySelector("#changes-table tbody").replaceChildren(
      row("added", data.added, title),
      row("removed", data.removed, title),
      row("changed", data.changed, (c) => `${title(c.dataset_id)} (${c.fields.join(", ")})`));
  }));
}

// --- runs: the last run of each job (the run ledger) ---
function duration(seconds) {
  if (seconds == null) return "";
  if (seconds < 90) return `${seconds.toFixed(1)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function loadRuns() {
  return panel("runs-status", "/runs?limit=1000", (data) => {
    const last = new Map();
    for (const run of data.runs) if (!last.has(run.job)) last.set(run.job, run);  // newest first
    const now = Date.now();
    const rows = [...last.values()].sort((a, b) => a.job.localeCompare(b.job)).map((r) => {
      const ended = Date.parse(r.finished_at ?? r.started_at);
      return el("tr", { "data-job": r.job, "data-status": r.status, class: `run-${r.status}` },
        el("td", {}, r.job),
        el("td", {}, r.status),
        el("td", {}, r.started_at.replace("T", " ").slice(0, 19) + " UTC"),
        el("td", { class: "num" }, duration(r.duration_seconds)),
        el("td", { class: "num" }, `${duration(Math.max(0, (now - ended) / 1000))} ago`),
        el("td", { class: "error-line" }, r.error ?? ""));
    });
    fillTable("runs-table", rows, "runs-status", "No run recorded yet.");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  Promise.all([loadRepos(), loadWiki(), loadChanges(), loadTops(), loadRuns()]).then(() => { document.body.dataset.loaded = "true"; });
});
