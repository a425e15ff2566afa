// qoswatch status page: renders /api/v1/status, kept live by the
// server-sent events of /api/v1/status/stream. Everything from the server
// goes into the page as text (textContent), never as HTML.
"use strict";

const FIELDS = ["topic", "participant", "location", "rule", "severity", "account"];
let latest = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return Math.round(seconds) + " s ago";
  if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
  if (seconds < 86400) return (seconds / 3600).toFixed(1) + " h ago";
  return (seconds / 86400).toFixed(1) + " d ago";
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function fixed(value, digits) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function who(participant) {
  if (!participant) return "whole meeting";
  return participant.name || "participant " + participant.id;
}

// With several Zoom accounts, each call is shown with its account's name
// and the page can show one account only.
let accountNames = [];

function topic(meeting) {
  const kind = meeting.kind || "meeting";
  const prefix = accountNames.length > 1 && meeting.account ? meeting.account + " · " : "";
  if (!meeting.topic) return prefix + kind + " " + (meeting.id || meeting.uuid);
  return prefix + (kind === "webinar" ? meeting.topic + " (webinar)" : meeting.topic);
}

function chosenAccount() {
  const select = document.getElementById("account-filter");
  return select && select.value ? select.value : null;
}

function ofAccount(meeting) {
  const chosen = chosenAccount();
  return !chosen || !meeting || meeting.account === chosen;
}

function renderAccounts(budgets) {
  const names = (budgets || []).map((b) => b.account);
  const select = document.getElementById("account-filter");
  if (names.join() !== accountNames.join()) {
    accountNames = names;
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "all accounts"),
      ...names.map((n) => el("option", { value: n, selected: n === chosen }, n)));
  }
  select.parentElement.hidden = names.length < 2;
}

function sparkline(values) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 80 20");
  svg.setAttribute("preserveAspectRatio", "none");
  const points = values.filter((v) => v !== null && v !== undefined);
  if (points.length > 1) {
    const max = Math.max(...points), min = Math.min(...points);
    const span = max - min || 1;
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", points.map((v, i) =>
      (i * 80 / (points.length - 1)).toFixed(1) + "," + (18 - (v - min) * 16 / span).toFixed(1)).join(" "));
    svg.append(line);
  }
  const title = document.createElementNS(ns, "title");
  title.textContent = "latency, last " + points.length + " samples (ms): " + points.map((v) => Math.round(v)).join(", ");
  svg.append(title);
  return svg;
}

function renderAlerts(alerts) {
  const body = document.querySelector("#alerts tbody");
  body.replaceChildren(...alerts.map((alert) => {
    const silenced = alert.silencedBy.length > 0;
    return el("tr", {
      class: "alert firing " + alert.severity + (silenced ? " silenced" : ""),
      "data-key": alert.key,
    },
      el("td", {}, el("span", { class: "badge " + alert.severity }, alert.severity),
        silenced ? [" ", el("span", { class: "badge silenced", title: "silence " + alert.silencedBy.join(", ") }, "silenced")] : null),
      el("td", { title: alert.since }, ago(alert.since)),
      el("td", {}, who(alert.participant), alert.participant && alert.participant.location
        ? el("div", { class: "muted" }, alert.participant.location) : null),
      el("td", {}, topic(alert.meeting)),
      el("td", { class: "text" }, alert.summary),
      el("td", {}, el("button", { type: "button", class: "small silence-this", onclick: () => prefill(alert) }, "Silence…")));
  }));
  document.getElementById("alert-count").textContent = alerts.length;
  document.getElementById("no-alerts").hidden = alerts.length > 0;
}

function renderMeetings(meetings) {
  const root = document.getElementById("meetings");
  root.replaceChildren(...meetings.map((meeting) => el("div", { class: "meeting", "data-meeting": meeting.uuid },
    el("h3", {}, topic(meeting), " ", el("span", { class: "muted" }, meeting.participants.length + " watched")),
    el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {},
        el("th", {}, "participant"), el("th", { class: "hide-narrow" }, "location"),
        el("th", {}, "latency ms"), el("th", {}, "jitter ms"), el("th", {}, "loss %"),
        el("th", {}, "fps"), el("th", {}, "CPU %"), el("th", {}, "trend"), el("th", {}, "alerts"))),
      el("tbody", {}, meeting.participants.map((p) => {
        const q = p.latest || {};
        return el("tr", {
          class: "participant" + (p.worst ? " firing " + p.worst : ""),
          "data-participant-id": p.id,
        },
          el("td", {}, p.name || "participant " + p.id),
          el("td", { class: "hide-narrow" }, p.location || "–"),
          el("td", { class: "num" }, fixed(q.latencyMs, 0)),
          el("td", { class: "num" }, fixed(q.jitterMs, 0)),
          el("td", { class: "num" }, fixed(q.lossPct, 1)),
          el("td", { class: "num" }, fixed(q.frameRateFps, 0)),
          el("td", { class: "num" }, fixed(q.cpuPct, 0)),
          el("td", {}, sparkline(p.trend.map((s) => s.latencyMs))),
          el("td", {}, p.alerts.join(", ") || "–"));
      })))))));
  document.getElementById("meeting-count").textContent = meetings.length;
  document.getElementById("no-meetings").hidden = meetings.length > 0;
}

function renderSilences(silences) {
  const body = document.querySelector("#silences tbody");
  body.replaceChildren(...silences.map((s) => el("tr", { class: "silence " + s.state, "data-silence": s.id },
    el("td", {}, el("span", { class: "badge" + (s.state === "active" ? " silenced" : "") }, s.state)),
    el("td", { class: "text" }, s.matchers.map((m) => m.name + (m.isRegex ? "=~" : "=") + JSON.stringify(m.value)).join(", ")),
    el("td", { title: s.endsAt }, clock(s.endsAt)),
    el("td", {}, s.createdBy),
    el("td", { class: "text" }, s.comment),
    el("td", {}, s.state === "active"
      ? el("button", { type: "button", class: "small remove", onclick: () => removeSilence(s.id) }, "Remove")
      : null))));
}

function renderHistory(history) {
  document.getElementById("history").replaceChildren(...history.slice(0, 30).map((h) => el("li", {},
    el("span", { class: "badge " + (h.status === "resolved" ? "resolved" : h.severity) }, h.status), " ",
    clock(h.at), " · ", who(h.participant), " · ", topic(h.meeting), " · ", h.summary,
    h.silenced ? el("span", { class: "muted" }, " (silenced, not sent)") : null)));
}

function renderSystem(status) {
  const budget = document.getElementById("budget");
  if (status.budget) {
    const b = status.budget;
    const minutes = (s) => (s >= 90 ? Math.round(s / 60) + " min" : s >= 10 ? Math.round(s) + " s" : s.toFixed(1) + " s");
    const rows = [
      ["used today", b.usedToday + " of " + b.allowanceToday + " (account quota " + b.dailyLimit + ")"],
      ["by 00:00 UTC", b.forecastToday + " at this pace"],
      ["polled every", minutes(b.urgentIntervalS) + " (problems) to " + minutes(b.calmIntervalS) + " (healthy)"],
      ["longest wait", minutes(b.stalenessMaxS) + " (bound " + minutes(b.stalenessBoundS) + ")"],
      ["requests", Math.round(b.plannedPerMin) + "/min planned, " + Math.round(b.demandPerMin) + "/min wanted"],
    ];
    if (b.zoomRemaining !== null && b.zoomRemaining !== undefined) rows.push(["Zoom says left", String(b.zoomRemaining)]);
    if (b.pausedForS) rows.push(["paused", Math.ceil(b.pausedForS) + " s (Zoom said 429)"]);
    budget.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  } else {
    budget.replaceChildren();
  }
  document.getElementById("channels").replaceChildren(...status.channels.map((c) => el("li", {},
    el("strong", {}, c.name), " (" + c.kind + "): ", c.queued + " queued",
    c.lastFailure ? el("span", { class: "fail" }, " · last failure " + clock(c.lastFailure.at) + ": " + c.lastFailure.reason) : "")));
  const rules = status.rules;
  const reload = document.getElementById("reload");
  if (rules) {
    const last = rules.lastReload;
    reload.replaceChildren(el("span", { class: "muted" }, rules.file), " · ",
      last ? el("span", { class: last.ok ? "" : "fail" }, "last reload " + clock(last.at) + ": " + last.result) : "no reload since start");
    document.getElementById("rules").replaceChildren(...rules.rules.map((r) => el("li", {},
      el("strong", {}, r.name), " " + r.metrics.join(", "),
      r.warning ? " · warning " + r.warning : "", r.critical ? " · critical " + r.critical : "")));
  } else {
    reload.textContent = "no rules file: samples are only logged";
  }
}

function render(status) {
  latest = status;
  renderAccounts(status.budgets);
  renderAlerts(status.alerts.filter((a) => ofAccount(a.meeting)));
  renderMeetings(status.meetings.filter((m) => ofAccount(m)));
  renderSilences(status.silences);
  renderHistory(status.history.filter((h) => ofAccount(h.meeting)));
  renderSystem(status);
  document.getElementById("generated").textContent = "as of " + new Date(status.generatedAt).toLocaleTimeString();
}

function matcherRow(field, value) {
  const index = document.querySelectorAll("#matchers .matcher").length;
  const select = el("select", { id: "m-field-" + index, class: "m-field" },
    FIELDS.map((f) => el("option", { value: f, selected: f === field }, f)));
  return el("div", { class: "matcher" }, select,
    el("input", { id: "m-value-" + index, class: "m-value", value: value || "", placeholder: "value", size: 18 }),
    el("label", {}, el("input", { type: "checkbox", class: "m-regex", id: "m-regex-" + index }), " regex"));
}

function prefill(alert) {
  const root = document.getElementById("matchers");
  root.replaceChildren();
  root.append(matcherRow("rule", alert.rule));
  if (alert.participant && alert.participant.name) root.append(matcherRow("participant", alert.participant.name));
  if (alert.meeting.topic) root.append(matcherRow("topic", alert.meeting.topic));
  if (accountNames.length > 1 && alert.meeting.account) root.append(matcherRow("account", alert.meeting.account));
  document.getElementById("comment").focus();
}

async function answer(response) {
  if (response.ok) return response.json();
  let message = response.status + " " + response.statusText;
  try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
  throw new Error(message);
}

async function createSilence(event) {
  event.preventDefault();
  const result = document.getElementById("silence-result");
  const matchers = [...document.querySelectorAll("#matchers .matcher")]
    .map((row) => ({
      name: row.querySelector(".m-field").value,
      value: row.querySelector(".m-value").value.trim(),
      isRegex: row.querySelector(".m-regex").checked,
    }))
    .filter((m) => m.value !== "");
  try {
    const silence = await answer(await fetch("/api/v1/silences", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        matchers,
        duration: document.getElementById("duration").value,
        createdBy: document.getElementById("author").value,
        comment: document.getElementById("comment").value,
      }),
    }));
    result.className = "";
    result.textContent = "silence " + silence.id + " until " + clock(silence.endsAt);
    refresh();
  } catch (error) {
    result.className = "error";
    result.textContent = error.message;
  }
}

async function removeSilence(id) {
  const result = document.getElementById("silence-result");
  try {
    await answer(await fetch("/api/v1/silences/" + encodeURIComponent(id), { method: "DELETE" }));
    result.className = "";
    result.textContent = "silence " + id + " removed";
    refresh();
  } catch (error) {
    result.className = "error";
    result.textContent = error.message;
  }
}

async function refresh() {
  try {
    render(await answer(await fetch("/api/v1/status")));
  } catch (_) { /* the stream brings the next state */ }
}

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/v1/status/stream");
  source.addEventListener("status", (event) => {
    live.textContent = "live";
    live.className = "live";
    render(JSON.parse(event.data));
  });
  source.onerror = () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
  };
}

document.getElementById("matchers").append(matcherRow("participant", ""));
document.getElementById("add-matcher").addEventListener("click", () =>
  document.getElementById("matchers").append(matcherRow("rule", "")));
document.getElementById("silence-form").addEventListener("submit", createSilence);
document.getElementById("account-filter").addEventListener("change", () => { if (latest) render(latest); });
setInterval(() => { if (latest) render(latest); }, 15000);
connect();
