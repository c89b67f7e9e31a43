// Renders Vigil's OpenAPI document as a readable, filterable reference.
// Written for this project; it needs no third-party code so the page works offline and under CSP 'self'.
"use strict";

const main = document.getElementById("operations");
const summary = document.getElementById("summary");
const filter = document.getElementById("filter");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function resolve(schema, doc) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return doc.components.schemas[name] || schema;
  }
  return schema;
}

function schemaBlock(schema, doc) {
  const seen = new Set();
  const expand = (s) => {
    if (!s || typeof s !== "object") return s;
    if (s.$ref) {
      const name = s.$ref.split("/").pop();
      if (seen.has(name)) return { $ref: name };
      seen.add(name);
      const out = expand(resolve(s, doc));
      seen.delete(name);
      return out;
    }
    if (Array.isArray(s)) return s.map(expand);
    return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, expand(v)]));
  };
  return el("pre", {}, JSON.stringify(expand(schema), null, 2));
}

function operationView(path, method, op, doc) {
  const head = el("summary", {},
    el("span", { class: `method ${method}` }, method.toUpperCase()),
    el("span", { class: "path" }, path),
    el("span", { class: "desc" }, op.summary || ""),
    el("span", { class: "perm" }, op["x-permission"]));
  const body = el("div", { class: "body" });
  body.append(el("p", {}, `Contract: ${op["x-contract"]}. Permission: ${op["x-permission"]}.`));
  if (op.parameters && op.parameters.length) {
    const rows = op.parameters.map((p) => el("tr", {},
      el("td", {}, p.name), el("td", {}, p.in), el("td", {}, p.required ? "required" : "optional"),
      el("td", {}, (p.schema && (p.schema.type || (p.schema.anyOf || []).map((a) => a.type).join(" | "))) || "")));
    body.append(el("h4", {}, "Parameters"),
      el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, ""), el("th", {}, "type")), ...rows));
  }
  if (op.requestBody) {
    const [type, media] = Object.entries(op.requestBody.content)[0];
    body.append(el("h4", {}, `Request body (${type})`), schemaBlock(media.schema, doc));
  }
  for (const [status, response] of Object.entries(op.responses)) {
    body.append(el("h4", {}, `${status} ${response.description}`));
    if (response.content) {
      const [, media] = Object.entries(response.content)[0];
      body.append(schemaBlock(media.schema, doc));
    }
  }
  const details = el("details", { class: "op" }, head, body);
  details.dataset.search = `${method} ${path} ${op.summary || ""} ${(op.tags || []).join(" ")} ${op["x-permission"]}`.toLowerCase();
  return details;
}

function render(doc) {
  const byTag = new Map();
  let count = 0;
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operationView(path, method, op, doc));
      count += 1;
    }
  }
  main.replaceChildren(...[...byTag.keys()].sort().map((tag) => el("section", { class: "tag" }, el("h2", {}, tag), ...byTag.get(tag))));
  summary.textContent = `${doc.info.title} ${doc.info.version}: ${count} operations. ${doc.info.description}`;
}

filter.addEventListener("input", () => {
  const needle = filter.value.trim().toLowerCase();
  for (const op of main.querySelectorAll("details.op")) op.hidden = needle && !op.dataset.search.includes(needle);
});

fetch(main.dataset.spec, { credentials: "same-origin" })
  .then((r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.json(); })
  .then(render)
  .catch((err) => { summary.textContent = `Could not load the OpenAPI document: ${err.message}`; });
