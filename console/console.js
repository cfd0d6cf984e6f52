// consort web console (docs/operating.md "Web console"). Plain JavaScript,
// no framework, no inline code (the page's Content-Security-Policy allows
// scripts from this origin only). Every view reads the node's public JSON
// endpoints; text from the service goes into the page as text, never HTML.
"use strict";

const REFRESH_MS = 3000;
const LEDGER_POINTS = 120; // samples kept for the growth chart

// ---- small DOM helpers ----

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function table(headers, rows, attrs) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

function short(hex) {
  return el("span", { class: "id", title: hex }, hex ? hex.slice(0, 12) + "…" : "—");
}

function badge(text, cls) {
  return el("span", { class: "badge" + (cls ? " " + cls : "") }, text);
}

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  const text = await r.text();
  let doc = null;
  try { doc = JSON.parse(text); } catch (_) { /* reported below */ }
  if (!r.ok) {
    const msg = doc && doc.error ? doc.error.code + ": " + doc.error.message : text.slice(0, 200);
    throw new Error("GET " + path + ": " + r.status + " " + msg);
  }
  if (doc === null) throw new Error("GET " + path + ": not JSON");
  return doc;
}

async function getText(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error("GET " + path + ": " + r.status);
  return r.text();
}

// ---- views: each returns the nodes to show ----

async function viewNetwork() {
  const [ov, svc, st] = await Promise.all(
    [getJSON("/node/overview"), getJSON("/gov/service"), getJSON("/node/state")]);
  const rows = ov.nodes.map((n) => {
    const a = n.attestation;
    const tcb = a.verified
      ? el("span", { class: "ok" }, "verified · SVN " + a.security_version +
           (a.tcb_status ? " · " + a.tcb_status : "") + (a.debug ? " · DEBUG" : "") +
           (a.advisories.length ? " · " + a.advisories.join(", ") : ""))
      : el("span", { class: "bad", title: a.error }, "not verified: " + a.error);
    return el("tr", { "data-node-id": n.node_id },
      el("td", {}, el("span", { class: "id" }, n.node_id),
         n.node_id === ov.node_id ? el("span", { class: "muted" }, " (this node)") : null),
      el("td", {}, n.status),
      el("td", {}, n.is_leader ? badge("leader", "leader") : badge(n.raft_role), " ",
         n.is_leader ? el("span", { class: "muted" }, n.raft_role) : null),
      // each node serves its own console: its view of the service
      el("td", {}, el("a", { href: "https://" + n.rpc_address + "/console",
                             title: "this node's console" }, n.rpc_address)),
      el("td", {}, n.platform),
      el("td", {}, short(n.code_id)),
      el("td", {}, tcb));
  });
  const codes = svc.code_ids.map((c) =>
    el("tr", {}, el("td", {}, el("span", { class: "id" }, c.code_id)), el("td", {}, c.status),
       el("td", {}, String(ov.nodes.filter((n) => n.code_id === c.code_id &&
                                              n.status === "Trusted").length))));
  return [
    el("h2", {}, "Nodes (" + ov.nodes.length + ")"),
    el("p", { class: "muted" }, "Raft term " + ov.raft_term + " · service " +
       svc.service_status + " · this node: " + st.state + ", " + st.raft_state),
    table(["node id", "status", "role", "RPC address", "platform", "code id", "TCB (evidence verified now)"],
          rows, { id: "nodes" }),
    el("h2", {}, "Code ids"),
    table(["code id", "status", "trusted nodes running it"], codes, { id: "code-ids" }),
  ];
}

async function viewMembers() {
  const [m, svc, rec] = await Promise.all(
    [getJSON("/gov/members"), getJSON("/gov/service"), getJSON("/gov/recovery")]);
  const holders = new Set(rec.members_with_shares || []);
  const rows = m.members.map((x) =>
    el("tr", { "data-member-id": x.id },
       el("td", {}, el("span", { class: "id" }, x.id)),
       el("td", {}, holders.has(x.id) ? "yes" : "no"),
       el("td", {}, el("details", {}, el("summary", {}, "PEM"),
                       el("pre", {}, x.certificate)))));
  return [
    el("h2", {}, "Members (" + m.members.length + ")"),
    el("p", { class: "muted" }, "Recovery threshold " + svc.recovery_threshold +
       " · request window " + svc.gov_request_window_s + " s · constitution " +
       svc.constitution_digest.slice(0, 16) + "…"),
    table(["member id", "holds a recovery share", "certificate"], rows, { id: "members" }),
  ];
}

async function viewProposals() {
  const p = await getJSON("/gov/proposals");
  const rows = p.proposals.map((x) =>
    el("tr", { "data-proposal-id": x.proposal_id },
       el("td", {}, el("a", { href: "#proposal/" + x.proposal_id, class: "id" }, x.proposal_id)),
       el("td", {}, short(x.proposer_id)),
       el("td", {}, x.state),
       el("td", {}, String(x.ballot_count))));
  return [
    el("h2", {}, "Proposals (" + p.proposals.length + ")"),
    rows.length ? table(["proposal id", "proposer", "state", "ballots"], rows, { id: "proposals" })
                : el("p", { class: "muted" }, "No proposals."),
  ];
}

async function viewProposal(id) {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error("not a proposal id: " + id);
  const p = await getJSON("/gov/proposals/" + id);
  const ballots = (p.ballots || []).map((b) =>
    el("tr", { "data-member-id": b.member_id },
       el("td", {}, el("span", { class: "id" }, b.member_id)),
       el("td", { class: b.vote ? "vote-yes" : "vote-no" }, b.vote ? "accept" : "reject")));
  return [
    el("p", {}, el("a", { href: "#proposals" }, "← all proposals")),
    el("h2", {}, "Proposal"),
    el("dl", { id: "proposal" },
       el("dt", {}, "id"), el("dd", { class: "id" }, p.proposal_id),
       el("dt", {}, "proposer"), el("dd", { class: "id" }, p.proposer_id),
       el("dt", {}, "state"), el("dd", { id: "proposal-state" }, p.state),
       el("dt", {}, "seqno"), el("dd", {}, String(p.seqno)),
       p.failure ? el("dt", {}, "failure") : null,
       p.failure ? el("dd", { class: "bad" }, p.failure) : null),
    el("h2", {}, "Votes (" + ballots.length + ")"),
    ballots.length ? table(["member", "vote"], ballots, { id: "ballots" })
                   : el("p", { class: "muted" }, "No votes yet."),
    el("h2", {}, "Actions"),
    el("pre", {}, JSON.stringify(p.proposal, null, 2)),
  ];
}

async function viewUpdates() {
  const svc = await getJSON("/gov/service");
  const trusted = svc.nodes.filter((n) => n.status === "Trusted");
  const out = [el("h2", {}, "Rolling updates (" + svc.updates.length + ")")];
  if (!svc.updates.length)
    out.push(el("p", { class: "muted" }, "No update in progress or recorded."));
  for (const u of svc.updates) {
    const onNew = trusted.filter((n) => n.code_id === u.code_id).length;
    const onOld = trusted.filter((n) => n.code_id === u.successor_of).length;
    out.push(el("dl", { class: "update", "data-code-id": u.code_id },
      el("dt", {}, "new code id"), el("dd", { class: "id" }, u.code_id),
      el("dt", {}, "replaces"), el("dd", { class: "id" }, u.successor_of),
      el("dt", {}, "state"), el("dd", {}, u.state + (u.reason ? " — " + u.reason : "")),
      el("dt", {}, "progress"),
      el("dd", {}, el("progress", { max: Math.max(1, trusted.length), value: onNew }),
         " " + onNew + " of " + trusted.length + " trusted nodes on the new code, " +
         onOld + " on the old"),
      el("dt", {}, "cut-over quorum"), el("dd", {}, String(u.cutover_quorum)),
      el("dt", {}, "needs"), el("dd", {}, u.need === undefined ? "—" : JSON.stringify(u.need)),
      el("dt", {}, "old code deprecated"),
      el("dd", {}, u.deprecated ? "yes, at " + new Date(u.deprecated_at * 1000).toISOString() : "no"),
      el("dt", {}, "evicted"),
      el("dd", {}, u.evicted === undefined ? "—" : JSON.stringify(u.evicted))));
  }
  out.push(el("h2", {}, "Nodes by code id"),
    table(["node id", "status", "code id"], svc.nodes.map((n) =>
      el("tr", {}, el("td", { class: "id" }, n.node_id), el("td", {}, n.status),
         el("td", {}, short(n.code_id))))));
  return out;
}

// Prometheus text: the value of `name{node="..."}` (the first sample).
function metric(text, name) {
  const m = text.match(new RegExp("^" + name + "\\{[^}]*\\} (\\d+)$", "m"));
  return m ? Number(m[1]) : null;
}

// Samples of the ledger's progress, taken every REFRESH_MS from the page's
// load on (whatever the view), so that the ledger view has a history to draw.
const samples = []; // {t, seqno, signed, signatures, entries}

async function sampleLedger() {
  const [st, metrics] = await Promise.all([getJSON("/node/state"), getText("/node/metrics")]);
  const seqno = st.last_committed_txid ? Number(st.last_committed_txid.split(".")[1]) : 0;
  samples.push({ t: Date.now(), seqno, signed: st.last_signed_seqno,
                 signatures: metric(metrics, "consort_signatures_total"),
                 entries: metric(metrics, "consort_entries_applied_total") });
  while (samples.length > LEDGER_POINTS) samples.shift();
  return st;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function growthChart() {
  const W = 640, H = 200, P = 36;
  const s = svg("svg", { class: "chart", width: W, height: H, viewBox: "0 0 " + W + " " + H });
  if (samples.length < 2) return s;
  const t0 = samples[0].t, t1 = samples[samples.length - 1].t;
  const lo = samples[0].seqno, hi = Math.max(lo + 1, samples[samples.length - 1].seqno);
  const x = (t) => P + (W - 2 * P) * (t - t0) / Math.max(1, t1 - t0);
  const y = (v) => H - P - (H - 2 * P) * (v - lo) / (hi - lo);
  s.append(svg("line", { class: "axis", x1: P, y1: H - P, x2: W - P, y2: H - P }),
           svg("line", { class: "axis", x1: P, y1: P, x2: P, y2: H - P }));
  s.append(svg("polyline", { class: "line",
    points: samples.map((p) => x(p.t).toFixed(1) + "," + y(p.seqno).toFixed(1)).join(" ") }));
  for (const p of samples)
    if (p.signed >= lo) s.append(svg("circle", { class: "sig", cx: x(p.t), cy: y(p.signed), r: 2.5 }));
  const lbl = (tx, ty, text) => { const e = svg("text", { x: tx, y: ty }); e.textContent = text; return e; };
  s.append(lbl(4, y(hi) + 4, String(hi)), lbl(4, y(lo) + 4, String(lo)),
           lbl(P, H - 8, Math.round((t1 - t0) / 1000) + " s shown: committed seqno (line), " +
               "last signed seqno (dots)"));
  return s;
}

async function viewLedger() {
  const st = await sampleLedger(); // on the other views, the background sampler takes them
  const last = samples[samples.length - 1], first = samples[0];
  const secs = (last.t - first.t) / 1000;
  const rate = secs > 0 ? ((last.seqno - first.seqno) / secs).toFixed(1) : "—";
  return [
    el("h2", {}, "Ledger"),
    el("dl", { id: "ledger" },
       el("dt", {}, "last committed"), el("dd", { id: "ledger-committed" }, st.last_committed_txid || "—"),
       el("dt", {}, "last signed seqno"), el("dd", { id: "ledger-signed" }, String(st.last_signed_seqno)),
       el("dt", {}, "unsigned tail"), el("dd", {}, String(Math.max(0, last.seqno - st.last_signed_seqno)) + " entries"),
       el("dt", {}, "pending (not committed)"), el("dd", {}, String(st.pending)),
       el("dt", {}, "entries applied"), el("dd", {}, last.entries === null ? "—" : String(last.entries)),
       el("dt", {}, "signature entries applied"), el("dd", {}, last.signatures === null ? "—" : String(last.signatures)),
       el("dt", {}, "growth"), el("dd", {}, rate + " entries/s over the last " + Math.round(secs) + " s")),
    growthChart(),
  ];
}

// ---- routing and refresh ----

function route() {
  const h = location.hash.replace(/^#/, "") || "network";
  if (h.startsWith("proposal/")) return { nav: "proposals", run: () => viewProposal(h.slice(9)) };
  const views = { network: viewNetwork, members: viewMembers, proposals: viewProposals,
                  updates: viewUpdates, ledger: viewLedger };
  const known = Object.hasOwn(views, h);
  return { nav: known ? h : "network", run: known ? views[h] : viewNetwork };
}

let timer = null;
let generation = 0;

async function render() {
  clearTimeout(timer);
  const my = ++generation;
  const r = route();
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", a.dataset.view === r.nav);
  const err = document.getElementById("error");
  try {
    const nodes = await r.run();
    if (my !== generation) return; // the view changed meanwhile
    document.getElementById("view").replaceChildren(...nodes);
    err.hidden = true;
    document.getElementById("refreshed").textContent =
      "Last refreshed " + new Date().toLocaleTimeString() + ".";
  } catch (e) {
    if (my !== generation) return;
    err.textContent = String(e.message || e);
    err.hidden = false;
  }
  timer = setTimeout(render, REFRESH_MS);
}

async function header() {
  try {
    const [st, v] = await Promise.all([getJSON("/node/state"), getJSON("/node/version")]);
    document.getElementById("this-node").textContent =
      "node " + st.node_id + " · consortd " + v.version;
  } catch (_) { /* the view shows errors */ }
}

window.addEventListener("hashchange", render);
document.addEventListener("DOMContentLoaded", () => {
  header();
  render();
  sampleLedger().catch(() => {});
  setInterval(() => { if (route().nav !== "ledger") sampleLedger().catch(() => {}); }, REFRESH_MS);
});
