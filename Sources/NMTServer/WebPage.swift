// WebPage: the page at `/` — pick a language pair, type text, see the translation and its
// alternatives, and for one line the source–output attention as a heat map (POST /attention). One
// self-contained document (no build step, nothing fetched from elsewhere) that calls the server's
// own API. `/?q=…&source=…&target=…` translates on load.

import Hummingbird

enum WebPage {
    static var response: Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nmt — translate</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d1d1f; background: #f5f5f7; }
  body { max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; font-weight: 600; margin: 0 0 1rem; }
  .bar { display: flex; gap: .5rem; align-items: center; margin-bottom: .75rem; flex-wrap: wrap; }
  select, button { font: inherit; padding: .35rem .6rem; border-radius: .4rem; border: 1px solid #c7c7cc; background: #fff; }
  button { background: #0a66c2; color: #fff; border-color: #0a66c2; cursor: pointer; }
  button:disabled { opacity: .6; cursor: wait; }
  .panes { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
  textarea, .output { width: 100%; box-sizing: border-box; min-height: 12rem; font: inherit; padding: .75rem;
                      border: 1px solid #c7c7cc; border-radius: .5rem; background: #fff; white-space: pre-wrap; }
  .output { overflow-wrap: anywhere; }
  .alternatives { margin-top: .75rem; }
  .alternatives li { margin: .25rem 0; color: #3a3a3c; }
  .error { color: #b00020; margin-top: .5rem; min-height: 1.2rem; }
  .meta { color: #6e6e73; font-size: .85rem; margin-top: .5rem; }
  .heatmap { margin-top: 1rem; overflow-x: auto; }
  .heatmap table { border-collapse: collapse; font-size: .8rem; }
  .heatmap td { width: 1.6rem; height: 1.6rem; border: 1px solid #e5e5ea; }
  .heatmap th { font-weight: 400; padding: 0 .3rem; white-space: nowrap; color: #3a3a3c; }
  .heatmap thead th { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; padding: .3rem 0; }
  .heatmap tbody th { text-align: right; }
</style>
</head>
<body>
<h1>nmt — translate</h1>
<div class="bar">
  <label>From <select id="source"></select></label>
  <label>to <select id="target"></select></label>
  <label>alternatives <select id="alternatives"><option>0</option><option>1</option><option>2</option><option>3</option></select></label>
  <button id="go">Translate</button>
</div>
<div class="panes">
  <textarea id="text" placeholder="Text to translate, one sentence or many lines"></textarea>
  <div class="output" id="output" aria-live="polite"></div>
</div>
<div class="error" id="error"></div>
<ol class="alternatives" id="alts"></ol>
<div class="meta" id="meta"></div>
<div class="heatmap" id="heatmap" aria-label="attention of each output token (rows) over the source tokens (columns)"></div>
<script>
"use strict";
const $ = id => document.getElementById(id);
let languages = [];

function fillTargets() {
  const source = languages.find(l => l.code === $("source").value);
  const targets = source ? source.targets : [];
  $("target").replaceChildren(...targets.map(code => {
    const language = languages.find(l => l.code === code);
    return new Option(language ? language.name + " (" + code + ")" : code, code);
  }));
}

async function translate() {
  const text = $("text").value;
  $("error").textContent = "";
  if (!text.trim()) { $("output").textContent = ""; $("alts").replaceChildren(); return; }
  $("go").disabled = true;
  const started = performance.now();
  try {
    const response = await fetch("translate", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ q: text, source: $("source").value, target: $("target").value, format: "text",
                             alternatives: Number($("alternatives").value) }) });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    $("output").textContent = body.translatedText;
    $("alts").replaceChildren(...(body.alternatives || []).map(a => { const li = document.createElement("li"); li.textContent = a; return li; }));
    $("meta").textContent = "translated in " + Math.round(performance.now() - started) + " ms";
    await showAttention(text);
  } catch (error) {
    $("error").textContent = String(error.message || error);
  } finally {
    $("go").disabled = false;
  }
}

// The attention of each output token over the source tokens, darker for more weight (one line only).
async function showAttention(text) {
  $("heatmap").replaceChildren();
  if (text.includes("\n")) return;
  const response = await fetch("attention", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ q: text, source: $("source").value, target: $("target").value }) });
  if (!response.ok) return;
  const body = await response.json();
  if (!body.attention || body.attention.length === 0) return;
  const cell = (tag, text) => { const c = document.createElement(tag); c.textContent = text; return c; };
  const head = document.createElement("tr");
  head.append(cell("th", ""), ...body.source.map(t => cell("th", t)));
  const rows = body.attention.map((weights, i) => {
    const row = document.createElement("tr");
    row.append(cell("th", body.target[i]));
    for (const w of weights) {
      const td = document.createElement("td");
      td.style.background = "rgba(10, 102, 194, " + Math.min(1, w).toFixed(3) + ")";
      td.title = w.toFixed(3);
      row.append(td);
    }
    return row;
  });
  const table = document.createElement("table");
  const thead = document.createElement("thead"), tbody = document.createElement("tbody");
  thead.append(head);
  tbody.append(...rows);
  table.append(thead, tbody);
  $("heatmap").append(table);
}

async function start() {
  try {
    languages = await (await fetch("languages")).json();
  } catch (error) { $("error").textContent = "cannot list languages: " + error; return; }
  const sources = languages.filter(l => l.targets.length > 0);
  $("source").replaceChildren(...sources.map(l => new Option(l.name + " (" + l.code + ")", l.code)));
  const params = new URLSearchParams(location.search);
  if (params.get("source")) $("source").value = params.get("source");
  fillTargets();
  if (params.get("target")) $("target").value = params.get("target");
  if (params.get("alternatives")) $("alternatives").value = params.get("alternatives");
  if (params.get("q")) { $("text").value = params.get("q"); await translate(); }
  document.body.dataset.ready = "true";
}

$("source").addEventListener("change", fillTargets);
$("go").addEventListener("click", translate);
$("text").addEventListener("keydown", e => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) translate(); });
start();
</script>
</body>
</html>
"""#
}
