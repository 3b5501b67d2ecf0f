// eventfold console: one page, no framework, no outside assets. Every
// value from the API is put in the page as text (never as HTML).
"use strict";

const tokenKey = "eventfold-token";
let pollTimer = null;
let scope = "";

// el builds an element: el("td", {class: "num"}, "12").
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function table(id, head, rows) {
  return el("table", {id}, el("thead", {}, el("tr", {}, head.map(h => el("th", {}, h)))), el("tbody", {}, rows));
}

function setMain(...children) {
  const m = document.getElementById("main");
  m.replaceChildren(...children);
}

function status(msg, bad) {
  const s = document.getElementById("status");
  s.textContent = msg || "";
  s.className = bad ? "bad" : "muted";
}

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || ("HTTP " + status));
    this.status = status;
    this.code = body && body.code;
  }
}

// api calls the node's API, relative to /ui/ (so a proxy prefix is kept).
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  const token = sessionStorage.getItem(tokenKey);
  if (token) headers["Authorization"] = "Bearer " + token;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch("../" + path, {method: opts.method || "GET", headers, body: opts.body});
  let body = null;
  const text = await resp.text();
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = {error: text}; }
  if (resp.status === 401) {
    askToken(token ? "That token was not accepted." : "");
    throw new APIError(401, body);
  }
  if (!resp.ok) throw new APIError(resp.status, body);
  return body;
}

function askToken(msg) {
  const box = document.getElementById("token-box");
  box.hidden = false;
  if (msg) status(msg, true);
  document.getElementById("token-input").focus();
}

function seg(s) { return encodeURIComponent(s); }

// ---------------------------------------------------------------- cluster

async function renderCluster() {
  const [parts, subs] = await Promise.all([api("v1/cluster/partitions"), api("v1/subscribers").catch(() => [])]);
  const out = [];
  out.push(el("h2", {}, "Members"));
  out.push(table("members", ["node", "role", "url", "answering"], (parts.members || []).map(m =>
    el("tr", {"data-node": m.id}, el("td", {}, m.id), el("td", {}, m.role || "processor"), el("td", {}, m.url),
      el("td", {class: m.ok ? "good" : "bad"}, m.ok ? "yes" : ("no: " + (m.error || "")))))));
  for (const name of Object.keys(parts.entities || {}).sort()) {
    const e = parts.entities[name];
    out.push(el("h2", {}, "Partitions of " + name + " ", el("span", {class: "muted"}, e.stable ? "(stable)" : "(rebalancing)")));
    out.push(table("partitions-" + name, ["partition", "owner", "hot standbys", "replicas", "lag"], (e.by_partition || []).map(p =>
      el("tr", {"data-partition": p.partition, class: p.lag > 0 ? "lagging" : null},
        el("td", {class: "num"}, p.partition),
        el("td", {class: "owner"}, p.owner || "—"),
        el("td", {}, (p.standbys || []).join(", ")),
        el("td", {}, (p.replicas || []).join(", ")),
        el("td", {class: "num lag", title: p.lag === undefined || p.lag === null ? "no record since the partition was assigned (or the owner did not answer)" : null},
          p.lag === undefined || p.lag === null ? "—" : p.lag)))));
  }
  out.push(el("h2", {}, "Recent rebalances"));
  const rb = (parts.rebalances || []).slice().reverse();
  out.push(rb.length ? table("rebalances", ["at", "revision", "partitions moved", "members"], rb.map(r =>
    el("tr", {}, el("td", {}, r.at), el("td", {class: "num"}, r.revision), el("td", {class: "num"}, r.moved), el("td", {}, (r.members || []).join(", ")))))
    : el("p", {class: "muted"}, "none seen by this node"));
  out.push(el("h2", {}, "Subscribers"));
  out.push((subs || []).length ? table("subscribers", ["name", "follows", "mode", "runs here", "paused", "partitions here", "lag", "delivered", "retried", "dead-lettered"], subs.map(s =>
    el("tr", {"data-subscriber": s.name}, el("td", {}, s.name), el("td", {}, (s.entities || []).join(", ")), el("td", {}, s.mode),
      el("td", {}, s.runs ? "yes" : "no"), el("td", {class: s.paused ? "bad" : ""}, s.paused ? "paused" : "no"),
      el("td", {}, Object.entries(s.partitions || {}).map(([k, v]) => k + ": " + v.join(",")).join("; ")),
      el("td", {class: "num"}, s.lag), el("td", {class: "num"}, s.delivered), el("td", {class: "num"}, s.retried), el("td", {class: "num"}, s.dead_lettered))))
    : el("p", {class: "muted"}, "no subscribers declared"));
  setMain(...out);
  status("cluster as seen by this node at " + new Date().toLocaleTimeString());
}

// ----------------------------------------------------------------- entity

async function entityTypes() {
  const c = await api("v1/cluster");
  return Object.keys(c.entities || {}).sort();
}

async function renderEntityForm(typ, id) {
  const types = await entityTypes();
  const form = el("form", {class: "inline", id: "entity-form"},
    el("select", {id: "entity-type", "aria-label": "entity type"}, types.map(t => el("option", {value: t, selected: t === typ}, t))),
    el("input", {id: "entity-id", placeholder: "id", value: id || "", "aria-label": "id"}),
    el("button", {type: "submit"}, "Look up"));
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    location.hash = "#/entity/" + seg(form.querySelector("#entity-type").value) + "/" + seg(form.querySelector("#entity-id").value);
  });
  return form;
}

// history reads every event of the entity (pages of 1000), at most 10 pages.
async function history(typ, id) {
  let events = [], after = null;
  for (let i = 0; i < 10; i++) {
    const page = await api("v1/" + seg(typ) + "/" + seg(id) + "/events?limit=1000" + (after === null ? "" : "&after=" + after));
    events = events.concat(page.events || []);
    if (page.next === null || page.next === undefined) break;
    after = page.next;
  }
  return events;
}

// reasons maps "partition/offset" of the entity's dead letters to why.
async function reasons(typ, id) {
  const out = {};
  try {
    let after = "";
    for (let i = 0; i < 20; i++) {
      const page = await api("v1/deadletters/" + seg(typ) + "?limit=500&key=" + seg(id) + (after ? "&after=" + seg(after) : ""));
      for (const d of page.dead_letters || []) {
        // The error usually starts with the reason already.
        const err = d.error || "";
        out[d.source_partition + "/" + d.source_offset] = err.startsWith(d.reason + ":") ? err : d.reason + (err ? ": " + err : "");
      }
      if (!page.next) break;
      after = page.next;
    }
  } catch (e) { /* no dead letters to show */ }
  return out;
}

async function renderEntity(typ, id) {
  const form = await renderEntityForm(typ, id);
  if (!typ || !id) { setMain(el("h2", {}, "Look up an entity"), form); return; }
  let cur;
  try {
    cur = await api("v1/" + seg(typ) + "/" + seg(id));
  } catch (e) {
    setMain(form, el("p", {class: "bad", id: "entity-error"}, e.message));
    return;
  }
  const [events, why] = await Promise.all([history(typ, id), reasons(typ, id)]);
  const state = el("pre", {id: "entity-state"}, JSON.stringify(cur.state, null, 2));
  const timeline = table("timeline", ["offset", "time", "type", "outcome", "version", "why not applied", "event"], events.map(e => {
    const reason = e.applied ? "" : (why[e.partition + "/" + e.offset] || "the command rule (decided on another version, or cut short); not dead-lettered");
    return el("tr", {class: e.applied ? "applied" : "rejected", "data-offset": e.offset},
      el("td", {class: "num"}, e.partition + "/" + e.offset), el("td", {}, e.timestamp), el("td", {class: "type"}, e.type || "?"),
      el("td", {}, e.applied ? "applied" : "rejected"), el("td", {class: "num"}, e.version), el("td", {}, reason),
      el("td", {}, JSON.stringify(e.payload)));
  }));

  // The version slider: the state after any number of applied events.
  const slider = el("input", {type: "range", id: "version-slider", min: 1, max: cur.version, value: cur.version, "aria-label": "version"});
  const sliderLabel = el("span", {id: "slider-version"}, "version " + cur.version);
  const sliderState = el("pre", {id: "slider-state"}, JSON.stringify(cur.state, null, 2));
  const showVersion = async () => {
    const v = slider.value;
    sliderLabel.textContent = "version " + v + " …";
    try {
      const at = await api("v1/" + seg(typ) + "/" + seg(id) + "?version=" + v);
      if (slider.value !== v) return; // moved on meanwhile
      sliderState.textContent = JSON.stringify(at.state, null, 2);
      sliderLabel.textContent = "version " + v;
    } catch (e) { sliderLabel.textContent = "version " + v + ": " + e.message; }
  };
  slider.addEventListener("input", showVersion);
  slider.addEventListener("change", showVersion);

  // The difference between two versions.
  const from = el("input", {type: "number", id: "diff-from", min: 1, max: cur.version, value: Math.max(1, cur.version - 1), "aria-label": "from version"});
  const to = el("input", {type: "number", id: "diff-to", min: 1, max: cur.version, value: cur.version, "aria-label": "to version"});
  const diffOut = el("div", {id: "diff"});
  const diffForm = el("form", {class: "inline", id: "diff-form"}, "from", from, "to", to, el("button", {type: "submit"}, "Compare"));
  diffForm.addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      const [a, b] = await Promise.all([from.value, to.value].map(v => api("v1/" + seg(typ) + "/" + seg(id) + "?version=" + v)));
      const lines = diff(a.state, b.state, "");
      diffOut.replaceChildren(lines.length ? el("ul", {}, lines) : el("p", {class: "muted"}, "no difference"));
    } catch (e) { diffOut.replaceChildren(el("p", {class: "bad"}, e.message)); }
  });

  // Send a command, If-Match the version shown.
  const body = el("textarea", {id: "command-body", "aria-label": "command", placeholder: '{"type": "…"}'});
  const ifMatch = el("input", {type: "checkbox", id: "if-match", checked: true});
  const result = el("pre", {id: "command-result", hidden: true});
  const send = el("button", {type: "submit", id: "send-command"}, "Send");
  const cmdForm = el("form", {id: "command-form"}, body,
    el("label", {}, ifMatch, " If-Match: \"" + cur.version + "\" (the version shown)"), " ", send, result);
  if (scope === "read") {
    send.disabled = true;
    body.disabled = true;
    cmdForm.append(el("p", {class: "muted", id: "read-only"}, "Read-only: this token may not send commands."));
  }
  cmdForm.addEventListener("submit", async ev => {
    ev.preventDefault();
    const headers = ifMatch.checked ? {"If-Match": '"' + cur.version + '"'} : {};
    result.hidden = false;
    try {
      const r = await api("v1/" + seg(typ) + "/" + seg(id) + "/commands", {method: "POST", body: body.value, headers});
      result.className = "good";
      result.textContent = "applied: version " + r.version + (r.duplicate ? " (duplicate)" : "");
      setTimeout(() => route(), 50); // show the new events
    } catch (e) {
      result.className = "bad";
      result.textContent = e.message + (e.code ? " (" + e.code + ")" : "");
    }
  });

  setMain(form,
    el("h2", {}, typ + " " + id + " ", el("span", {class: "muted", id: "entity-version"}, "version " + cur.version + ", partition " + cur.partition + ", offset " + cur.offset)),
    el("div", {class: "row"},
      el("section", {}, el("h2", {}, "State"), state),
      el("section", {}, el("h2", {}, "State at a version"), el("div", {}, slider, " ", sliderLabel), sliderState)),
    el("h2", {}, "Timeline (" + events.length + " events)"), timeline,
    el("div", {class: "row"},
      el("section", {}, el("h2", {}, "Difference between versions"), diffForm, diffOut),
      el("section", {}, el("h2", {}, "Send a command"), cmdForm)));
  status("");
}

// diff lists what differs between two JSON values, path by path.
function diff(a, b, path) {
  const out = [];
  const isObj = v => v !== null && typeof v === "object";
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of [...keys].sort()) {
      const p = path + (Array.isArray(a) ? "[" + k + "]" : (path ? "." : "") + k);
      if (!(k in a)) out.push(el("li", {}, p + ": ", el("ins", {}, JSON.stringify(b[k]))));
      else if (!(k in b)) out.push(el("li", {}, p + ": ", el("del", {}, JSON.stringify(a[k]))));
      else out.push(...diff(a[k], b[k], p));
    }
    return out;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push(el("li", {}, (path || "state") + ": ", el("del", {}, JSON.stringify(a)), " → ", el("ins", {}, JSON.stringify(b))));
  }
  return out;
}

// ----------------------------------------------------------- dead letters

async function renderDeadLetters(typ, after) {
  const types = await entityTypes();
  typ = typ || types[0];
  const pick = el("select", {id: "dlq-type", "aria-label": "entity type"}, types.map(t => el("option", {value: t, selected: t === typ}, t)));
  pick.addEventListener("change", () => { location.hash = "#/deadletters/" + seg(pick.value); });
  const page = await api("v1/deadletters/" + seg(typ) + "?limit=50" + (after ? "&after=" + seg(after) : ""));
  const rows = (page.dead_letters || []).map(d => el("tr", {"data-source": d.source_partition + "/" + d.source_offset},
    el("td", {class: "num"}, d.partition + "/" + d.offset), el("td", {}, d.key), el("td", {class: "reason"}, d.reason),
    el("td", {}, d.event_type || ""), el("td", {class: "num"}, (d.source_topic || "") + " " + d.source_partition + "/" + d.source_offset),
    el("td", {}, d.error || ""), el("td", {}, (d.value || "") + (d.value_truncated ? " …" : ""))));
  const more = page.next ? el("a", {href: "#/deadletters/" + seg(typ) + "/" + seg(page.next), id: "dlq-next"}, "next page") : el("span", {class: "muted"}, "end");
  setMain(el("h2", {}, "Dead letters of ", pick),
    rows.length ? table("deadletters", ["dead letter", "key", "reason", "event type", "source position", "error", "event"], rows) : el("p", {class: "muted", id: "dlq-empty"}, "none"),
    more,
    el("p", {class: "muted"}, "Redrive comes with the dead-letter redrive feature; until then, fix the cause and append the event again."));
  status("");
}

// ----------------------------------------------------------------- router

async function route() {
  clearTimeout(pollTimer);
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const page = parts[0] || "cluster";
  for (const n of ["cluster", "entity", "deadletters"]) {
    document.getElementById("nav-" + n).className = n === page ? "active" : "";
  }
  try {
    if (page === "entity") await renderEntity(parts[1], parts.slice(2).join("/"));
    else if (page === "deadletters") await renderDeadLetters(parts[1], parts[2]);
    else {
      await renderCluster();
      pollTimer = setTimeout(route, 2000);
    }
  } catch (e) {
    if (e.status !== 401) status(e.message, true);
    if (page === "cluster") pollTimer = setTimeout(route, 2000);
  }
}

async function whoami() {
  try {
    const w = await api("v1/whoami");
    scope = w.scope;
    document.getElementById("who").textContent = w.auth ? "token scope: " + w.scope : "open API (no tokens)";
  } catch (e) { /* asked for a token */ }
  document.getElementById("forget-token").hidden = !sessionStorage.getItem(tokenKey);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const input = document.getElementById("token-input");
    sessionStorage.setItem(tokenKey, input.value);
    input.value = "";
    document.getElementById("token-box").hidden = true;
    status("");
    await whoami();
    route();
  });
  document.getElementById("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(tokenKey);
    location.reload();
  });
  window.addEventListener("hashchange", route);
  whoami().then(route);
});
