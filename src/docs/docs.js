// The API documentation page: renders every operation of /api/v1/openapi.json.
"use strict";

// Inline markdown of the document's texts: `code` only.
const inline = (text) => String(text || "").split("`").map((part, i) => (i % 2 ? element("code", { textContent: part }) : part));
const access = (op) => {
  const schemes = (op.security || []).map((s) => Object.keys(s)[0]);
  if (schemes.length === 0) return "anyone";
  if (schemes.includes(undefined)) return "anyone; signed in sees more";
  return op.description ? "administrators" : "signed in (Bearer token or cookie)";
};
function element(tag, props, ...children) {
  const { dataset, ...rest } = props || {};
  const node = Object.assign(document.createElement(tag), rest);
  if (dataset) Object.assign(node.dataset, dataset);
  node.append(...children.flat());
  return node;
}
const schemaName = (schema) => (schema?.$ref ? schema.$ref.split("/").pop() : schema?.type || "");
function responses(op) {
  return element("ul", { className: "responses" }, Object.entries(op.responses || {}).map(([status, response]) => {
    const types = Object.keys(response.content || {});
    const json = response.content?.["application/json"]?.schema;
    return element("li", {}, element("code", { textContent: status }), " ", ...inline(response.description),
      types.length ? element("span", { className: "access" }, ` (${types.join(", ")}${json ? `: ${schemaName(json)}` : ""})`) : "");
  }));
}
fetch("/api/v1/openapi.json").then((r) => r.json()).then((doc) => {
  document.getElementById("about").replaceChildren(...inline(doc.info.description));
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
    }
  }
  const main = document.getElementById("operations");
  let total = 0;
  for (const [tag, ops] of byTag) {
    main.append(element("h2", { textContent: tag }));
    for (const { path, method, op } of ops) {
      total += 1;
      const params = (op.parameters || []).map((p) => `${p.name} (${p.in}${p.required ? ", required" : ""})`).join(", ");
      const body = op.requestBody ? Object.keys(op.requestBody.content).join(", ") : "none";
      main.append(element("details", { className: "operation", dataset: { search: `${method} ${path} ${op.summary}`.toLowerCase(), method, path } },
        element("summary", {},
          element("span", { className: `method ${method}`, textContent: method }),
          element("code", { textContent: path }),
          element("span", {}, ...inline(op.summary))),
        element("p", { className: "access", textContent: `Who: ${access(op)}. Parameters: ${params || "none"}. Body: ${body}.` }),
        responses(op)));
    }
  }
  document.getElementById("count").textContent = `${total} operations.`;
  document.getElementById("filter").addEventListener("input", (e) => {
    const words = e.target.value.toLowerCase();
    for (const d of main.querySelectorAll("details")) d.hidden = !d.dataset.search.includes(words);
  });
}).catch((error) => {
  document.getElementById("operations").textContent = `The API document could not be loaded: ${error.message}`;
});
