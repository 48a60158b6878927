// The operator console's page: polls /api/overview and renders it; searches and redrives on
// demand. No framework, no build step; text only through textContent (no HTML injection).
"use strict";
(() => {
  const refreshMs = Number(document.body.dataset.refreshMs) || 1000;
  const $ = (selector, root = document) => root.querySelector(selector);
  const el = (tag, props = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
    return node;
  };
  const rate = (value) => (value === null || value === undefined ? "–" : `${value.toFixed(2)}/s`);
  const ms = (value) => (value === null || value === undefined ? "–" : value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`);
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) + "." + String(new Date(iso).getMilliseconds()).padStart(3, "0") : "");
  let lastOk = 0;
  let current = null; // the order searched for, re-asked each refresh until all its hops are in
  let settled = false;

  function setState(node, state) {
    node.classList.remove("ready", "degraded", "not-ready", "unavailable", "unknown");
    node.classList.add(state.replace(" ", "-"));
  }

  function serviceLine(service, part) {
    const why = service.replicas.filter((r) => r.why).map((r) => `${r.url}: ${r.why}`).join("; ");
    const line = $(`[data-part="${part}"] .service`);
    line.replaceChildren(el("span", { class: `state ${service.state.replace(" ", "-")}` }, service.state), why ? ` — ${why}` : "");
    return service.state;
  }

  function facts(part, rows, available) {
    const dl = $(`[data-part="${part}"] dl`);
    dl.replaceChildren();
    for (const [label, value, bad] of rows) {
      dl.append(el("dt", {}, label), el("dd", { class: bad ? "bad" : "" }, available ? value : "unavailable"));
    }
  }

  function lagTable(part, hop) {
    const table = $(`[data-part="${part}"] table.lag`);
    table.replaceChildren(el("tr", {}, el("th", {}, "partition"), el("th", {}, "lag"), el("th", {}, "owner")));
    if (!hop.available) return;
    for (const p of hop.partitions) {
      table.append(el("tr", { "data-partition": p.partition }, el("td", {}, p.partition), el("td", {}, p.lag), el("td", { class: "id" }, p.owners.join(", ") || "nobody")));
    }
  }

  function renderPipeline(overview) {
    const { services, hops } = overview.pipeline;
    const order = serviceLine(services["order-service"], "post");
    serviceLine(services["order-service"], "outbox");
    const read = serviceLine(services["read-service"], "projection");
    const worker = serviceLine(services["notification-service"], "notification");
    setState($('[data-part="post"]'), hops.post.available ? order : "unavailable");
    setState($('[data-part="outbox"]'), hops.outbox.available ? order : "unavailable");
    setState($('[data-part="projection"]'), hops.projection.available ? read : "unavailable");
    setState($('[data-part="notification"]'), hops.notification.available ? worker : "unavailable");
    facts("post", [["accepted", rate(hops.post.rate)], ["rejected (4xx)", rate(hops.post.rejected)], ["errors (5xx)", rate(hops.post.errors), hops.post.errors > 0]], hops.post.available);
    facts("outbox", [["published", rate(hops.outbox.rate)], ["publish failures", rate(hops.outbox.errors), hops.outbox.errors > 0], ["pending", hops.outbox.pending ?? "–", hops.outbox.pending > 0], ["oldest pending", hops.outbox.oldestAgeSeconds === null ? "–" : `${hops.outbox.oldestAgeSeconds.toFixed(1)} s`]], hops.outbox.available);
    facts("projection", [["projected", rate(hops.projection.rate)], ["dead-lettered", rate(hops.projection.errors), hops.projection.errors > 0], ["retried", rate(hops.projection.retried)]], hops.projection.available);
    facts("notification", [["notified", rate(hops.notification.rate)], ["dead-lettered", rate(hops.notification.errors), hops.notification.errors > 0], ["send failures", rate(hops.notification.sendFailures), hops.notification.sendFailures > 0]], hops.notification.available);
    lagTable("projection", hops.projection);
    lagTable("notification", hops.notification);
    const topic = $('[data-part="topic"]');
    setState(topic, overview.topic.unavailable ? "unavailable" : "ready");
    $(".service", topic).replaceChildren(el("span", { class: "state" }, overview.topic.unavailable ? "unavailable" : "reading"), overview.topic.unavailable ? ` — ${overview.topic.unavailable}` : "");
    const lagSum = (hop) => (hop.available ? hop.partitions.reduce((sum, p) => sum + p.lag, 0) : "–");
    facts("topic", [["name", overview.topic.name], ["read side lag", lagSum(hops.projection)], ["notifications lag", lagSum(hops.notification)]], true);
  }

  function hopChip(hop, withTimes) {
    // A hop stamped earlier than the one it follows has no latency: the two clocks disagree.
    const after = hop.latencyMs !== null ? ` +${ms(hop.latencyMs)}` : hop.skewMs !== null ? ` (clocks ${ms(hop.skewMs)} apart)` : "";
    // A parked event waits for a missing version of its order (redriven or late): not dead.
    const waits = hop.waitingFor !== null && hop.waitingFor !== undefined ? `waits for version ${hop.waitingFor}` : "";
    const label = hop.state === "reached" ? `${hop.name}${after}` : hop.state === "parked" ? `${hop.name}: parked, ${waits}` : `${hop.name}: ${hop.state}`;
    const title = hop.error || (hop.at ? `${hop.at} by the ${hop.clock} clock` : waits);
    const chip = el("span", { class: `hop ${hop.state}`, "data-hop": hop.name, "data-state": hop.state, title }, label);
    if (hop.waitingFor !== null && hop.waitingFor !== undefined) chip.setAttribute("data-waiting-for", String(hop.waitingFor));
    if (withTimes) chip.append(el("small", {}, hop.at ? time(hop.at) : hop.error || waits || (hop.state === "reached" ? "time not recorded" : "not yet")));
    return chip;
  }

  const endToEnd = (body) => (body.endToEndSkewMs !== null ? `– (clocks ${ms(body.endToEndSkewMs)} apart)` : ms(body.endToEndMs));

  function renderRecent(rows) {
    $("#recent").replaceChildren(...rows.map((row) => el("tr", { "data-order-id": row.orderId },
      el("td", { class: "id" }, el("a", { href: "#", onclick: (event) => { event.preventDefault(); search(row.orderId); } }, row.orderId)),
      el("td", {}, row.customerName), el("td", {}, row.totalAmount), el("td", {}, time(row.createdAt)),
      el("td", {}, el("div", { class: "hops" }, ...row.hops.map((hop) => hopChip(hop, false)))),
      el("td", { class: "e2e" }, endToEnd(row)))));
  }

  function renderDeadLetters(groups) {
    const root = $("#dlq-groups");
    root.replaceChildren();
    for (const [group, info] of Object.entries(groups)) {
      const header = el("h3", {}, `${group}: `, el("span", { class: "count" }, info.count ?? "?"), " dead letters");
      const section = el("div", { class: "group", "data-group": group }, header);
      if (info.unavailable) section.append(el("p", { class: "error" }, `unavailable: ${info.unavailable}`));
      if (info.count) section.append(el("button", { class: "redrive-all", onclick: () => redrive(group, null) }, "Redrive all not redriven before"));
      const table = el("table", {}, el("tr", {}, el("th", {}, "where"), el("th", {}, "when"), el("th", {}, "order"), el("th", {}, "error"), el("th", {}, "")));
      for (const letter of info.latest) {
        table.append(el("tr", { "data-coordinates": letter.coordinates },
          el("td", { class: "id" }, letter.coordinates), el("td", {}, time(letter.at)), el("td", { class: "id" }, letter.orderId ?? "–"),
          el("td", { class: "error" }, letter.error + (letter.redriveCount ? ` (redriven ${letter.redriveCount}×)` : "")),
          el("td", {}, el("button", { class: "redrive", onclick: () => redrive(group, [letter.coordinates]) }, "Redrive"))));
      }
      if (info.latest.length) section.append(table);
      root.append(section);
    }
  }

  async function redrive(group, offsets) {
    const what = offsets ? `dead letter ${offsets.join(", ")}` : "every dead letter not redriven before";
    if (!window.confirm(`Send ${what} back to ${group} (and only to it)?`)) return;
    const response = await fetch(`/api/dead-letters/${encodeURIComponent(group)}/redrive`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(offsets ? { offsets } : { all: true }),
    });
    const body = await response.json();
    $("#redrive-result").textContent = response.ok
      ? `${group}: redrove ${body.sent.length}${body.skipped.length ? `, skipped ${body.skipped.map((s) => `${s.coordinates} (${s.why})`).join(", ")}` : ""}`
      : `${group}: ${body.detail}`;
    poll();
  }

  async function search(query) {
    $("#order-query").value = query;
    current = query;
    settled = false;
    await showJourney();
  }

  async function showJourney() {
    if (!current || settled) return;
    const box = $("#journey");
    try {
      const response = await fetch(`/api/orders/${encodeURIComponent(current)}`);
      const body = await response.json();
      if (!response.ok) { box.replaceChildren(el("p", { class: "note" }, body.detail)); return; }
      // Settled once every event is through and the order's life is over; until then a later
      // event (a confirmation, a release from parking) may still come.
      const events = body.events || [];
      const last = events[events.length - 1];
      settled = events.every((e) => e.hops.every((hop) => hop.state === "reached")) && !!last && ["OrderShipped", "OrderCancelled"].includes(last.eventType);
      const notes = [];
      if (!body.seenOnTopic) notes.push("not among the console's latest orders on the topic: publish time unknown");
      for (const [service, why] of Object.entries(body.unavailable)) notes.push(`${service} unavailable: ${why}`);
      box.replaceChildren(
        el("p", {}, "order ", el("span", { class: "id", "data-field": "order-id" }, body.orderId), body.correlationId ? ` · correlation ${body.correlationId}` : "", ` · end to end ${endToEnd(body)}`),
        el("table", { class: "events" }, el("tr", {}, el("th", {}, "version"), el("th", {}, "event"), el("th", {}, "hops")),
          ...events.map((event) => el("tr", { "data-version": String(event.version), "data-event-type": event.eventType || "" },
            el("td", {}, event.version), el("td", { title: event.eventId || "" }, event.eventType || "(known only as parked)"),
            el("td", {}, el("div", { class: "hops" }, ...event.hops.map((hop) => hopChip(hop, true))))))),
        ...notes.map((note) => el("p", { class: "note" }, note)));
    } catch (error) {
      box.replaceChildren(el("p", { class: "error" }, `console unavailable: ${error}`));
    }
  }

  async function poll() {
    try {
      const response = await fetch("/api/overview", { cache: "no-store" });
      if (!response.ok) throw new Error(`answered ${response.status}`);
      const overview = await response.json();
      renderPipeline(overview);
      renderRecent(overview.recent);
      renderDeadLetters(overview.deadLetters);
      lastOk = Date.now();
      $("#freshness").textContent = `updated ${time(overview.at)}`;
      $("#freshness").classList.remove("stale");
    } catch (error) {
      $("#freshness").textContent = `console unavailable (${error.message}); last update ${lastOk ? new Date(lastOk).toLocaleTimeString() : "never"}`;
      $("#freshness").classList.add("stale");
    }
  }

  $("#search").addEventListener("submit", (event) => { event.preventDefault(); search($("#order-query").value.trim()); });
  poll();
  setInterval(() => { poll(); showJourney(); }, refreshMs);
})();
