// The explore page: everything it shows comes from the API, and everything it does is a link
// to this page with other query parameters, so the URL is the view (shareable, back works).
"use strict";

const FILTERS = ["person", "place", "org", "entity", "source", "story", "published_from",
  "published_to", "undated", "dedupe"];
const FACETS = [["person", "People"], ["place", "Places"], ["org", "Organisations"],
  ["source", "Sources"]];
const LABELS = { person: "Person", place: "Place", org: "Organisation", entity: "Entity",
  source: "Source", story: "Story", published_from: "From", published_to: "To",
  undated: "Undated", dedupe: "One per story" };
const params = new URLSearchParams(location.search);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

function svg(tag, attrs, ...children) {
  return fill(document.createElementNS("http://www.w3.org/2000/svg", tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
    }
  }
  return node;
}

// The parameters among `names` that have a value, in the order given in the URL.
function pick(names) {
  const picked = new URLSearchParams();
  for (const [name, value] of params) {
    if (names.includes(name) && value.trim() !== "") picked.append(name, value);
  }
  return picked;
}

// A link to this page: the current search changed by `change`, from its first page.
function linkTo(change) {
  const next = pick(["q", "sort", "limit", ...FILTERS]);
  change(next);
  const query = next.toString();
  return query ? "?" + query : "explore";
}

function without(name, value) {
  return (p) => {
    const kept = p.getAll(name).filter((v) => v !== value);
    p.delete(name);
    kept.forEach((v) => p.append(name, v));
  };
}

async function api(path, query) {
  const response = await fetch(path + (query && query.toString() ? "?" + query : ""), {
    headers: { Accept: "application/json" },
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

function show(target, ...children) {
  target.replaceChildren(...children.flat().filter(Boolean));
}

function failed(target, error) {
  show(target, el("p", { class: "error", role: "alert" }, String(error.message || error)));
}

function dateOf(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

function iso(date) {
  return date.toISOString().slice(0, 10);
}

// The last day of the interval starting on `start`.
function intervalEnd(start, interval) {
  const d = dateOf(start);
  if (interval === "day") return start;
  if (interval === "week") return iso(new Date(d.getTime() + 6 * 86400000));
  if (interval === "month") return iso(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)));
  return `${start.slice(0, 4)}-12-31`;
}

function intervalName(start, interval) {
  if (interval === "year") return start.slice(0, 4);
  if (interval === "month") {
    return dateOf(start).toLocaleDateString("en-GB", { month: "long", year: "numeric", timeZone: "UTC" });
  }
  return interval === "week" ? `week of ${start}` : start;
}

// An article's headline, or its opening words when it has none.
function headline(article) {
  if (article.title) return article.title;
  const words = (article.excerpt || article.body || "").slice(0, 80);
  return words.length < 80 ? words : words.replace(/\s+\S*$/, "") + "…";
}

function plural(n, word) {
  return `${n.toLocaleString("en-GB")} ${word}${n === 1 ? "" : "s"}`;
}

// -- the search view -----------------------------------------------------------------------

function fillForm() {
  document.getElementById("q").value = params.get("q") || "";
  document.getElementById("sort").value = params.get("sort") || "";
  const kept = pick([...FILTERS, "limit"]);
  show(document.getElementById("kept"),
    [...kept].map(([name, value]) => el("input", { type: "hidden", name, value })));
}

function chipText(name, value) {
  if (name === "dedupe") return LABELS.dedupe;
  if (name === "undated") return value === "false" ? "Dated only" : "Undated only";
  return `${LABELS[name]}: ${value}`;
}

function chips() {
  const active = [...pick(FILTERS)];
  if (!active.length) return [];
  return el("ul", { class: "chips" }, active.map(([name, value]) => el("li", {},
    el("a", { href: linkTo(without(name, value)), class: "chip", title: "Remove this filter",
      "aria-label": `Remove filter ${chipText(name, value)}` },
    chipText(name, value), el("span", { "aria-hidden": "true" }, " ×")))));
}

function results(page) {
  const total = page.total_estimated ? `about ${plural(page.total, "article")}` : plural(page.total, "article");
  const items = page.items.map((item) => {
    const meta = [item.source, item.published_at || "undated", item.author].filter(Boolean).join(" · ");
    const text = el("p", { class: "snippet" });
    if (item.snippet) text.innerHTML = item.snippet; // the API escapes all but its <mark>s
    else text.textContent = item.excerpt;
    const article = new URLSearchParams(location.search);
    article.set("article", item.id);
    return el("li", {}, el("article", {},
      el("h2", {}, el("a", { href: "?" + article }, headline(item))),
      el("p", { class: "meta" }, meta), text));
  });
  const next = new URLSearchParams(location.search);
  next.set("cursor", page.next_cursor || "");
  const exported = pick(["q", "sort", ...FILTERS]);
  const exportLink = (format) => {
    const query = new URLSearchParams(exported);
    query.set("format", format);
    return el("a", { href: "articles/export?" + query, download: "" }, format.toUpperCase());
  };
  return [
    el("p", { class: "summary" }, el("strong", {}, total),
      " · Export this query: ", exportLink("csv"), " ", exportLink("ndjson")),
    items.length ? el("ol", { class: "hits" }, items) : el("p", {}, "No article matches."),
    el("p", { class: "paging" },
      params.get("cursor") ? el("a", { href: linkTo(() => {}) }, "← First page") : null,
      page.next_cursor ? el("a", { href: "?" + next, rel: "next" }, "Next page →") : null),
  ];
}

function facets(page) {
  const lists = FACETS.map(([name, title]) => {
    const chosen = params.getAll(name);
    const buckets = ((page.facets || {})[name] || []).filter((b) => !chosen.includes(b.name));
    if (!buckets.length) return null;
    return el("section", { class: "facet" }, el("h2", {}, title), el("ul", {}, buckets.map((b) =>
      el("li", {}, el("a", { href: linkTo((p) => p.append(name, b.name)) },
        b.name, " ", el("span", { class: "count" }, String(b.count)))))));
  });
  return lists.some(Boolean) ? lists : [el("p", { class: "quiet" }, "No filters to add.")];
}

function chart(timeline) {
  const buckets = timeline.buckets;
  const notes = [];
  if (timeline.undated) {
    const undated = linkTo((p) => p.set("undated", "true"));
    notes.push(el("a", { href: undated }, plural(timeline.undated, "undated article")), " not shown. ");
  }
  if (timeline.estimated) notes.push("Counts estimated from a sample of the stories.");
  if (!buckets.length) return [el("p", { class: "quiet" }, "No dated article matches."), el("p", {}, notes)];
  const width = 1000, height = 120, most = Math.max(1, ...buckets.map((b) => b.count));
  // A few buckets are drawn as bars of a 30-bar chart, centred, not as wide blocks.
  const step = width / Math.max(buckets.length, 30), gap = step > 4 ? 1 : 0;
  const left = (width - step * buckets.length) / 2;
  const bars = buckets.map((b, i) => {
    const h = b.count ? Math.max(2, (b.count / most) * height) : 0;
    const name = intervalName(b.start, timeline.interval);
    const label = `${name}: ${plural(b.count, "article")}`;
    const rect = svg("rect", { x: left + i * step, y: height - h, width: Math.max(step - gap, 0.5), height: h,
      class: "bar" }, svg("title", {}, label));
    if (!b.count) return rect;
    const end = intervalEnd(b.start, timeline.interval);
    const href = linkTo((p) => { p.set("published_from", b.start); p.set("published_to", end); });
    return svg("a", { href, "aria-label": label, class: "bar-link", "data-start": b.start }, rect);
  });
  const figure = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none",
    role: "group", "aria-label": `Matching articles per ${timeline.interval}` }, bars);
  const first = intervalName(buckets[0].start, timeline.interval);
  const last = intervalName(buckets[buckets.length - 1].start, timeline.interval);
  return [
    el("h2", {}, `Per ${timeline.interval} `, el("span", { class: "quiet" }, `(most: ${most})`)),
    figure,
    buckets.length < 30
      ? el("p", { class: "axis centred" }, first === last ? first : `${first} – ${last}`)
      : el("p", { class: "axis" }, el("span", {}, first), el("span", {}, last)),
    notes.length ? el("p", { class: "quiet" }, notes) : null,
  ];
}

async function searchView() {
  fillForm();
  show(document.getElementById("filters"), chips());
  const listing = pick(["q", "sort", "cursor", "limit", ...FILTERS]);
  listing.set("facets", "person,place,org,source");
  const counting = pick(["q", ...FILTERS]);
  const [page, timeline] = await Promise.allSettled([api("articles", listing), api("timeline", counting)]);
  const resultsBox = document.getElementById("results"), facetBox = document.getElementById("facets");
  if (page.status === "fulfilled") {
    show(resultsBox, results(page.value));
    show(facetBox, facets(page.value));
  } else {
    failed(resultsBox, page.reason);
    show(facetBox);
  }
  const timelineBox = document.getElementById("timeline");
  if (timeline.status === "fulfilled") show(timelineBox, chart(timeline.value));
  else failed(timelineBox, timeline.reason);
  document.body.dataset.ready = "search";
}

// -- the article view ----------------------------------------------------------------------

// The body as text nodes, with each entity mention marked (overlapping spans: the first wins).
function markedBody(body, entities) {
  const spans = entities.flatMap((e) => e.spans.map(([start, end]) => ({ start, end, e })))
    .sort((a, b) => a.start - b.start || b.end - a.end);
  const parts = [];
  let at = 0;
  for (const { start, end, e } of spans) {
    if (start < at) continue;
    parts.push(body.slice(at, start));
    parts.push(el("mark", { class: e.type, title: `${LABELS[e.type]}: ${e.name}` }, body.slice(start, end)));
    at = end;
  }
  parts.push(body.slice(at));
  return el("div", { class: "body" }, parts);
}

async function articleView(id) {
  document.getElementById("explore").hidden = true;
  const box = document.getElementById("article");
  box.hidden = false;
  fillForm();
  const back = new URLSearchParams(location.search);
  back.delete("article");
  const backLink = el("p", {}, el("a", { href: back.toString() ? "?" + back : "explore" }, "← Back to the search"));
  try {
    const article = await api("articles/" + encodeURIComponent(id));
    const meta = [article.source, article.published_at || "undated", article.author].filter(Boolean).join(" · ");
    const entities = FACETS.filter(([type]) => type !== "source").map(([type, title]) => {
      const own = article.entities.filter((e) => e.type === type);
      if (!own.length) return null;
      return el("section", { class: "facet" }, el("h2", {}, title), el("ul", {}, own.map((e) => el("li", {},
        el("a", { href: "?" + new URLSearchParams([[type, e.name]]), class: `entity ${type}` }, e.name),
        " ", el("span", { class: "count" }, String(e.mentions))))));
    });
    show(box, backLink, el("h1", {}, headline(article)), el("p", { class: "meta" }, meta),
      el("div", { class: "columns" }, el("nav", { "aria-label": "Entities" }, entities),
        el("section", {}, markedBody(article.body, article.entities), el("section", { id: "story" }))));
    document.title = `${headline(article)} · newscorpus`;
    if (article.story_id) await story(article);
  } catch (error) {
    show(box, backLink);
    box.append(el("p", { class: "error", role: "alert" }, String(error.message || error)));
  }
  document.body.dataset.ready = "article";
}

async function story(article) {
  const found = await api("stories/" + encodeURIComponent(article.story_id));
  const others = found.articles.filter((a) => a.id !== article.id);
  const all = "?" + new URLSearchParams([["story", article.story_id]]);
  show(document.getElementById("story"),
    el("h2", {}, "Its story: ", el("a", { href: all }, found.title)),
    others.length
      ? el("ul", {}, others.map((a) => el("li", {},
        el("a", { href: "?" + new URLSearchParams([["article", a.id]]) }, headline(a)),
        " ", el("span", { class: "meta" }, [a.source, a.published_at || "undated"].filter(Boolean).join(" · ")))))
      : el("p", { class: "quiet" }, "No other article in this story yet."));
}

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (event.key === "/" && !typing) {
    event.preventDefault();
    document.getElementById("q").focus();
  }
});

if (params.get("article")) articleView(params.get("article"));
else searchView();
